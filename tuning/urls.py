from django.urls import path

from tuning import apis, openai_apis, views

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
    # OpenAI's fine-tuning API (the official client's base_url is <site>/v1)
    path("v1/fine_tuning/jobs", openai_apis.JobListApi.as_view(), name="v1-fine-tuning-jobs"),
    path("v1/fine_tuning/jobs/<str:run_id>", openai_apis.JobApi.as_view(), name="v1-fine-tuning-job"),
    path(
        "v1/fine_tuning/jobs/<str:run_id>/events",
        openai_apis.JobEventsApi.as_view(),
        name="v1-fine-tuning-job-events",
    ),
    path(
        "v1/fine_tuning/jobs/<str:run_id>/checkpoints",
        openai_apis.JobCheckpointsApi.as_view(),
        name="v1-fine-tuning-job-checkpoints",
    ),
    path(
        "v1/fine_tuning/jobs/<str:run_id>/cancel",
        openai_apis.JobCancelApi.as_view(),
        name="v1-fine-tuning-job-cancel",
    ),
    path(
        "v1/fine_tuning/jobs/<str:run_id>/resume",
        openai_apis.JobResumeApi.as_view(),
        name="v1-fine-tuning-job-resume",
    ),
    path("tuning/", views.tuning_index, name="tuning-index"),
    path("tuning/estimate/", views.tuning_estimate, name="tuning-estimate"),
    path("tuning/runs/<int:run_id>/", views.tuning_run, name="tuning-run"),
    path("tuning/runs/<int:run_id>/<str:action>/", views.tuning_run_action, name="tuning-run-action"),
    path("tuning/versions/<str:name>/promote/", views.tuning_promote, name="tuning-promote"),
]
