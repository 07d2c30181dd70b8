"""/api/v1/ for papers, attempts, grading and the wrong-answer book (see quizbank/exam_apis.py)."""

from django.urls import path

from quizbank import exam_apis

urlpatterns = [
    path("api/v1/auth/token", exam_apis.AuthTokenApi.as_view(), name="api-v1-auth-token"),
    path("api/v1/papers", exam_apis.PaperListApi.as_view(), name="api-v1-papers"),
    path("api/v1/papers/<int:paper_id>", exam_apis.PaperDetailApi.as_view(), name="api-v1-paper"),
    path("api/v1/papers/<int:paper_id>/sessions", exam_apis.SessionStartApi.as_view(), name="api-v1-paper-sessions"),
    path("api/v1/papers/<int:paper_id>/results", exam_apis.PaperResultsApi.as_view(), name="api-v1-paper-results"),
    path(
        "api/v1/papers/<int:paper_id>/statistics",
        exam_apis.PaperStatisticsApi.as_view(),
        name="api-v1-paper-statistics",
    ),
    path("api/v1/sessions", exam_apis.SessionListApi.as_view(), name="api-v1-sessions"),
    path("api/v1/sessions/<int:session_id>", exam_apis.SessionDetailApi.as_view(), name="api-v1-session"),
    path(
        "api/v1/sessions/<int:session_id>/answers/<int:position>",
        exam_apis.SessionAnswerSaveApi.as_view(),
        name="api-v1-session-answer",
    ),
    path(
        "api/v1/sessions/<int:session_id>/advance",
        exam_apis.SessionAdvanceApi.as_view(),
        name="api-v1-session-advance",
    ),
    path("api/v1/sessions/<int:session_id>/finish", exam_apis.SessionFinishApi.as_view(), name="api-v1-session-finish"),
    path("api/v1/sessions/<int:session_id>/review", exam_apis.SessionReviewApi.as_view(), name="api-v1-session-review"),
    path("api/v1/grading", exam_apis.GradingQueueApi.as_view(), name="api-v1-grading"),
    path("api/v1/answers/<int:answer_id>/grade", exam_apis.AnswerGradeApi.as_view(), name="api-v1-answer-grade"),
    path("api/v1/wrong-book", exam_apis.WrongBookApi.as_view(), name="api-v1-wrong-book"),
    path(
        "api/v1/wrong-book/practice",
        exam_apis.WrongBookPracticeApi.as_view(),
        name="api-v1-wrong-book-practice",
    ),
]
