from django.urls import path

from tuning import apis, views

urlpatterns = [
    path("api/v1/tuning/runs", apis.RunListApi.as_view(), name="api-v1-tuning-runs"),
    path("api/v1/tuning/runs/<str:run_id>", apis.RunDetailApi.as_view(), name="api-v1-tuning-run"),
    path("api/v1/tuning/runs/<str:run_id>/events", apis.RunEventsApi.as_view(), name="api-v1-tuning-run-events"),
    path(
        "api/v1/tuning/runs/<str:run_id>/checkpoints",
        apis.RunCheckpointsApi.as_view(),
        name="api-v1-tuning-run-checkpoints",
    ),
    path("api/v1/tuning/runs/<str:run_id>/cancel", apis.RunCancelApi.as_view(), name="api-v1-tuning-run-cancel"),
    path("api/v1/tuning/runs/<str:run_id>/resume", apis.RunResumeApi.as_view(), name="api-v1-tuning-run-resume"),
    path(
        "api/v1/tuning/versions/<str:name>/promote",
        apis.VersionPromoteApi.as_view(),
        name="api-v1-tuning-version-promote",
    ),
    path("tuning/", views.tuning_index, name="tuning-index"),
    path("tuning/runs/<int:run_id>/", views.tuning_run, name="tuning-run"),
    path("tuning/runs/<int:run_id>/<str:action>/", views.tuning_run_action, name="tuning-run-action"),
    path("tuning/versions/<str:name>/promote/", views.tuning_promote, name="tuning-promote"),
]
