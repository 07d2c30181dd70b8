from django.urls import include, path

from quizbank import apis, views

urlpatterns = [
    path("api/v1/questions", apis.QuestionListApi.as_view(), name="api-v1-questions"),
    path("api/v1/questions/<int:question_id>", apis.QuestionDetailApi.as_view(), name="api-v1-question"),
    path("api/v1/imports", apis.ImportCreateApi.as_view(), name="api-v1-imports"),
    path("api/v1/imports/template", apis.ImportTemplateApi.as_view(), name="api-v1-import-template"),
    path("api/v1/imports/<int:job_id>", apis.ImportDetailApi.as_view(), name="api-v1-import"),
    path("bank/", views.bank_index, name="bank-index"),
    path("bank/import/", views.bank_import_page, name="bank-import"),
    path("bank/imports/<int:job_id>/", views.bank_import_status, name="bank-import-status"),
    path("", include("quizbank.exam_api_urls")),
    path("", include("quizbank.exam_web_urls")),
    path("", include("quizbank.teacher_urls")),
]
