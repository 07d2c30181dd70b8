from django.urls import path

from quizbank import exam_views

urlpatterns = [
    path("exams/", exam_views.exam_index, name="exam-index"),
    path("exams/<int:paper_id>/", exam_views.exam_paper, name="exam-paper"),
    path("exams/<int:paper_id>/start", exam_views.exam_start, name="exam-start"),
    path("sessions/<int:session_id>/", exam_views.session_take, name="session-take"),
    path("sessions/<int:session_id>/finish", exam_views.session_finish_page, name="session-finish"),
    path("sessions/<int:session_id>/review/", exam_views.session_review, name="session-review"),
    path("wrong-book/", exam_views.wrong_book, name="wrong-book"),
    path("wrong-book/practice", exam_views.wrong_book_practice, name="wrong-book-practice"),
]
