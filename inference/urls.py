from django.urls import path

from inference import apis, views

urlpatterns = [
    path("practice/", views.practice_index, name="practice-index"),
    path("practice/questions/<int:question_id>/", views.practice_question, name="practice-question"),
    path("practice/answers/<int:answer_id>/", views.practice_answer, name="practice-answer"),
    path("api/questions/<int:question_id>/", apis.QuestionDetailApi.as_view(), name="api-question-detail"),
    path("api/questions/<int:question_id>/answers/", apis.AnswerCreateApi.as_view(), name="api-answer-create"),
    path("api/answers/<int:answer_id>/", apis.AnswerDetailApi.as_view(), name="api-answer-detail"),
    path(
        "api/v1/answers/<int:answer_id>/explain/stream",
        apis.answer_explain_stream,
        name="api-v1-answer-explain-stream",
    ),
]
