from django.urls import include, path

from quizbank import mapping_views, views
from quizbank.apis import imports, questions

urlpatterns = [
    path("api/v1/questions", questions.QuestionListApi.as_view(), name="api-v1-questions"),
    path("api/v1/questions/<int:question_id>", questions.QuestionDetailApi.as_view(), name="api-v1-question"),
    path("api/v1/imports", imports.ImportCreateApi.as_view(), name="api-v1-imports"),
    path("api/v1/imports/template", imports.ImportTemplateApi.as_view(), name="api-v1-import-template"),
    path("api/v1/imports/<int:job_id>", imports.ImportDetailApi.as_view(), name="api-v1-import"),
    path("bank/", views.bank_index, name="bank-index"),
    path("bank/import/", views.bank_import_page, name="bank-import"),
    path("bank/import/mapping/", mapping_views.bank_import_mapping, name="bank-import-mapping"),
    path("bank/imports/<int:job_id>/", views.bank_import_status, name="bank-import-status"),
    path("bank/export/", views.bank_export_page, name="bank-export"),
    path("bank/export/<str:fmt>/", views.bank_export_download, name="bank-export-download"),
    path("", include("quizbank.exam_api_urls")),
    path("", include("quizbank.exam_web_urls")),
    path("", include("quizbank.teacher_urls")),
    path("", include("quizbank.editor_urls")),
]
