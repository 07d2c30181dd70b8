from django.urls import path

from quizbank import class_views, sharing_views, teacher_views

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
    path("teach/papers/<int:paper_id>/results.xlsx", class_views.teacher_paper_xlsx, name="teacher-paper-xlsx"),
    path("teach/papers/<int:paper_id>/assign", class_views.teacher_paper_assign, name="teacher-paper-assign"),
    path(
        "teach/papers/<int:paper_id>/assign/<int:class_id>/remove",
        class_views.teacher_paper_unassign,
        name="teacher-paper-unassign",
    ),
    path("teach/papers/<int:paper_id>/share", class_views.teacher_paper_share, name="teacher-paper-share"),
    path("teach/classes/", class_views.teacher_classes, name="teacher-classes"),
    path("teach/classes/<int:class_id>/", class_views.teacher_class, name="teacher-class"),
    path(
        "teach/classes/<int:class_id>/passwords.csv",
        class_views.teacher_class_credentials,
        name="teacher-class-credentials",
    ),
    path(
        "teach/classes/<int:class_id>/students/<int:user_id>/remove",
        class_views.teacher_class_remove,
        name="teacher-class-remove",
    ),
    path("teach/banks/", sharing_views.teacher_banks, name="teacher-banks"),
    path("teach/banks/<int:subject_id>/share", sharing_views.teacher_bank_share, name="teacher-bank-share"),
    path("teach/banks/<int:subject_id>/claim", sharing_views.teacher_bank_claim, name="teacher-bank-claim"),
    path("classes/join/", class_views.class_join_page, name="class-join"),
    path("accounts/password/first/", class_views.password_first, name="password-first"),
    path("teach/grading/", teacher_views.teacher_grading, name="teacher-grading"),
    path("teach/answers/<int:answer_id>/", teacher_views.teacher_answer, name="teacher-answer"),
    path("teach/answers/<int:answer_id>/grade/", teacher_views.teacher_answer_grade, name="teacher-answer-grade"),
]
