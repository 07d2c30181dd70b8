"""/api/v1/ for auth, papers, attempts, results, grading and the wrong-answer book (see quizbank/apis/)."""

from django.urls import path

from quizbank.apis import auth, grading, papers, results, sessions, wrongbook

urlpatterns = [
    path("api/v1/auth/token", auth.AuthTokenApi.as_view(), name="api-v1-auth-token"),
    path("api/v1/papers", papers.PaperListApi.as_view(), name="api-v1-papers"),
    path("api/v1/papers/<int:paper_id>", papers.PaperDetailApi.as_view(), name="api-v1-paper"),
    path("api/v1/papers/<int:paper_id>/sessions", sessions.SessionStartApi.as_view(), name="api-v1-paper-sessions"),
    path("api/v1/papers/<int:paper_id>/results", results.PaperResultsApi.as_view(), name="api-v1-paper-results"),
    path(
        "api/v1/papers/<int:paper_id>/statistics",
        results.PaperStatisticsApi.as_view(),
        name="api-v1-paper-statistics",
    ),
    path("api/v1/sessions", sessions.SessionListApi.as_view(), name="api-v1-sessions"),
    path("api/v1/sessions/<int:session_id>", sessions.SessionDetailApi.as_view(), name="api-v1-session"),
    path(
        "api/v1/sessions/<int:session_id>/answers",
        sessions.SessionAnswersSaveApi.as_view(),
        name="api-v1-session-answers",
    ),
    path(
        "api/v1/sessions/<int:session_id>/answers/<int:position>",
        sessions.SessionAnswerSaveApi.as_view(),
        name="api-v1-session-answer",
    ),
    path(
        "api/v1/sessions/<int:session_id>/advance",
        sessions.SessionAdvanceApi.as_view(),
        name="api-v1-session-advance",
    ),
    path("api/v1/sessions/<int:session_id>/finish", sessions.SessionFinishApi.as_view(), name="api-v1-session-finish"),
    path("api/v1/sessions/<int:session_id>/review", sessions.SessionReviewApi.as_view(), name="api-v1-session-review"),
    path("api/v1/grading", grading.GradingQueueApi.as_view(), name="api-v1-grading"),
    path("api/v1/answers/<int:answer_id>/grade", grading.AnswerGradeApi.as_view(), name="api-v1-answer-grade"),
    path("api/v1/wrong-book", wrongbook.WrongBookApi.as_view(), name="api-v1-wrong-book"),
    path(
        "api/v1/wrong-book/practice",
        wrongbook.WrongBookPracticeApi.as_view(),
        name="api-v1-wrong-book-practice",
    ),
]
