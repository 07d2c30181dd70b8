from django.urls import path

from quizbank import teacher_views

urlpatterns = [
    path("teach/papers/", teacher_views.teacher_papers, name="teacher-papers"),
    path("teach/papers/new/", teacher_views.teacher_paper_new, name="teacher-paper-new"),
    path("teach/papers/<int:paper_id>/", teacher_views.teacher_paper, name="teacher-paper"),
    path("teach/papers/<int:paper_id>/results.csv", teacher_views.teacher_paper_csv, name="teacher-paper-csv"),
    path(
        "teach/papers/<int:paper_id>/statistics/",
        teacher_views.teacher_paper_statistics,
        name="teacher-paper-statistics",
    ),
    path("teach/grading/", teacher_views.teacher_grading, name="teacher-grading"),
    path("teach/answers/<int:answer_id>/", teacher_views.teacher_answer, name="teacher-answer"),
    path("teach/answers/<int:answer_id>/grade/", teacher_views.teacher_answer_grade, name="teacher-answer-grade"),
]
