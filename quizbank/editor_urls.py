from django.urls import path

from quizbank import editor_views

urlpatterns = [
    path("teach/questions/new/", editor_views.question_editor_new, name="question-editor-new"),
    path("teach/questions/<int:question_id>/edit/", editor_views.question_editor, name="question-editor"),
    path("teach/questions/preview/", editor_views.question_preview, name="question-preview"),
    path("teach/questions/images/", editor_views.question_image_upload, name="question-image-upload"),
    path("media/question-images/<str:name>", editor_views.question_image, name="question-image"),
]
