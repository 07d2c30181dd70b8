from django.urls import path

from inference import apis, views

urlpatterns = [
    path("practice/", views.practice_index, name="practice-index"),
    path("practice/questions/<int:question_id>/", views.practice_question, name="practice-question"),
    path("practice/answers/<int:answer_id>/", views.practice_answer, name="practice-answer"),
    path("models/", views.models_report, name="models-report"),
    path("models/report.csv", views.models_report_csv, name="models-report-csv"),
    # The question itself, as a student may see it, is /api/v1/questions/<id> (quizbank.apis.questions).
    path(
        "api/v1/questions/<int:question_id>/answers",
        apis.PracticeAnswerCreateApi.as_view(),
        name="api-v1-question-answers",
    ),
    path("api/v1/answers/<int:answer_id>", apis.PracticeAnswerDetailApi.as_view(), name="api-v1-answer"),
    path(
        "api/v1/answers/<int:answer_id>/explain/stream",
        apis.answer_explain_stream,
        name="api-v1-answer-explain-stream",
    ),
]
