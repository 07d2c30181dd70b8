"""/v1/fine_tuning/jobs: the tuning runs as OpenAI's fine-tuning API, so that the official client drives them
(`openai.OpenAI(base_url="https://<site>/v1", api_key=<API token>)`). Admins only.

The translation (training_file, method, hyperparameters, statuses) is `tuning/openai_compat.py`.
"""

from __future__ import annotations

import time

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.response import Response
from rest_framework.views import APIView

from core.exceptions import ApplicationError
from core.throttling import ThrottledPostOnly
from core.tokens import ExpiringBearerAuthentication, ExpiringTokenAuthentication
from tuning.apis import IsTuningAdmin
from tuning.models import ModelVersion, RunEvent, RunStatus, TuningRun
from tuning.openai_compat import (
    ORGANIZATION_ID,
    STATUS,
    job_hyperparameters,
    method_parse,
    public_text,
    run_training_file,
    training_file_parse,
)
from tuning.selectors import run_checkpoints, run_events_page, run_progress, runs_page
from tuning.services import run_cancel, run_create, run_resume


def _unix(value) -> int | None:
    return int(value.timestamp()) if value else None


def job_object(run: TuningRun) -> dict:
    """A `fine_tuning.job` as OpenAI's client types it, with this project's fields beside (no server paths)."""
    hyperparameters = job_hyperparameters(run)
    progress = run_progress(run)
    metrics = run.metrics or {}
    tokens = metrics.get("trained_tokens_per_epoch")
    return {
        "object": "fine_tuning.job",
        "id": f"ftjob-{run.pk}",
        "created_at": _unix(run.created_at),
        "finished_at": _unix(run.finished_at),
        "model": run.base_version.name,
        "fine_tuned_model": run.output_version.name if run.output_version_id else None,
        "organization_id": ORGANIZATION_ID,
        "status": STATUS[RunStatus(run.status)],
        "training_file": run_training_file(run),
        "validation_file": None,
        "result_files": [],
        "seed": int((run.config or {}).get("seed", 0)),
        "trained_tokens": round(tokens * metrics.get("epochs", 0)) if tokens and run.status == "succeeded" else None,
        "estimated_finish": (
            int(time.time() + progress["seconds_left"]) if progress["seconds_left"] is not None else None
        ),
        "error": {"code": "run_failed", "message": public_text(run.error), "param": None} if run.error else None,
        "hyperparameters": hyperparameters,
        "method": {
            "type": "supervised",
            "supervised": {"hyperparameters": hyperparameters},
            "finetuning_type": run.method,
        },
        "integrations": [],
        "metadata": None,
        # this project's
        "stage": run.stage,
        "dataset_size": run.dataset_size,
        "promote": run.promote,
        "pool": run.pool,
        "training_progress": progress,
    }


def event_object(event: RunEvent) -> dict:
    return {
        "object": "fine_tuning.job.event",
        "id": f"ftevent-{event.pk}",
        "created_at": _unix(event.created_at),
        "level": event.level,
        "message": public_text(event.message),
        "data": {key: value for key, value in event.data.items() if key != "path"},
        "type": "metrics" if event.data.get("metrics") else "message",
    }


def checkpoint_object(checkpoint: dict) -> dict:
    fields = ("object", "id", "fine_tuning_job_id", "step_number", "metrics", "created_at")
    return {
        **{key: checkpoint[key] for key in fields},
        "metrics": {**checkpoint["metrics"], "step": checkpoint["step_number"]},
        "fine_tuned_model_checkpoint": f"{checkpoint['fine_tuning_job_id']}:ckpt-step-{checkpoint['step_number']}",
    }


def _page(data: list[dict], has_more: bool) -> Response:
    return Response({"object": "list", "data": data, "has_more": has_more})


def _cursor(value: str, prefix: str) -> int | None:
    if not value:
        return None
    number = value.removeprefix(prefix)
    if not number.isdigit():
        raise ApplicationError(f"after {value!r} is not an id of the list ({prefix}<n>)", extra={"param": "after"})
    return int(number)


def _job(job_id: str) -> TuningRun:
    number = job_id.removeprefix("ftjob-")
    return get_object_or_404(TuningRun, pk=number if number.isdigit() else 0)


class PageSerializer(serializers.Serializer):
    after = serializers.CharField(required=False, default="", allow_blank=True)
    limit = serializers.IntegerField(required=False, default=20, min_value=1, max_value=100)


class JobCreateSerializer(serializers.Serializer):
    model = serializers.CharField(default="base", help_text="the base model version")
    training_file = serializers.CharField(help_text="bank:<split>[:<subject path>], e.g. bank:train or bank:all:数学")
    method = serializers.DictField(required=False, default=None, allow_null=True)
    hyperparameters = serializers.DictField(required=False, default=None, allow_null=True, help_text="deprecated")
    seed = serializers.IntegerField(required=False, allow_null=True, default=None)
    suffix = serializers.CharField(required=False, allow_null=True, default=None)
    validation_file = serializers.CharField(required=False, allow_null=True, default=None)
    integrations = serializers.ListField(required=False, allow_null=True, default=None)
    metadata = serializers.DictField(required=False, allow_null=True, default=None)
    # this project's
    promote = serializers.BooleanField(default=False, help_text="make the result the active version")
    new_data_only = serializers.BooleanField(default=False, help_text="train on questions newer than the model")
    pool = serializers.RegexField(
        r"^[a-z0-9_-]{1,50}$", default="default", help_text="compute pool (Celery queue tuning.<pool>); ours"
    )

    def validate(self, attrs):
        refused = {
            "suffix": "versions are named by the site",
            "validation_file": "a run holds out `val_size` of its training data (a hyperparameter)",
            "integrations": "no integrations are served",
            "metadata": "runs keep no metadata",
        }
        for name, why in refused.items():
            if attrs.get(name):
                raise serializers.ValidationError({name: f"not supported: {why}"})
        return attrs


def _field_errors(fields: dict) -> str:
    return "; ".join(
        f"{name}: {' '.join(map(str, errors)) if isinstance(errors, list) else errors}"
        for name, errors in fields.items()
    )


class OpenAIApi(APIView):
    """Bearer tokens as OpenAI's clients send them, admins only, and errors in OpenAI's shape as well as
    the project's (`{"error": {"message", "type", "param", "code"}}` beside `message` and `extra`)."""

    authentication_classes = [ExpiringBearerAuthentication, ExpiringTokenAuthentication, SessionAuthentication]
    permission_classes = [IsTuningAdmin]

    def handle_exception(self, exc):
        response = super().handle_exception(exc)
        if isinstance(response.data, dict) and "message" in response.data:
            extra = response.data.get("extra") or {}
            fields = extra.get("fields")
            detailed = isinstance(fields, dict) and fields
            response.data["error"] = {
                "message": _field_errors(fields) if detailed else response.data["message"],
                "type": "invalid_request_error" if response.status_code < 500 else "server_error",
                "param": extra.get("param") or (next(iter(fields)) if detailed else None),
                "code": extra.get("code"),
            }
        return response


class JobListApi(OpenAIApi):
    # Creating a run queues GPU work: limited per admin (THROTTLE_RATES["tuning"]); listing is not.
    throttle_classes = [ThrottledPostOnly]
    throttle_scope = "tuning"

    @extend_schema(operation_id="fine_tuning_jobs_list", parameters=[PageSerializer], responses=None)
    def get(self, request):
        page = PageSerializer(data=request.query_params)
        page.is_valid(raise_exception=True)
        runs, has_more = runs_page(
            after=_cursor(page.validated_data["after"], "ftjob-"), limit=page.validated_data["limit"]
        )
        return _page([job_object(run) for run in runs], has_more)

    @extend_schema(request=JobCreateSerializer, responses=None)
    def post(self, request):
        serializer = JobCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        source = training_file_parse(data["training_file"])
        choice = method_parse(data["method"], data["hyperparameters"])
        overrides = choice.overrides | ({"seed": data["seed"]} if data["seed"] is not None else {})
        run = run_create(
            method=choice.finetuning_type,
            base_version=get_object_or_404(ModelVersion, name=data["model"]),
            overrides=overrides,
            subject=source.subject,
            split=source.split,
            new_data_only=data["new_data_only"],
            promote=data["promote"],
            created_by=request.user,
            pool=data["pool"],
        )
        return Response(job_object(run), status=status.HTTP_200_OK)


class JobApi(OpenAIApi):
    @extend_schema(responses=None)
    def get(self, request, run_id: str):
        return Response(job_object(_job(run_id)))


class JobEventsApi(OpenAIApi):
    @extend_schema(parameters=[PageSerializer], responses=None)
    def get(self, request, run_id: str):
        page = PageSerializer(data=request.query_params)
        page.is_valid(raise_exception=True)
        events, has_more = run_events_page(
            _job(run_id), after=_cursor(page.validated_data["after"], "ftevent-"), limit=page.validated_data["limit"]
        )
        return _page([event_object(event) for event in events], has_more)


class JobCheckpointsApi(OpenAIApi):
    @extend_schema(parameters=[PageSerializer], responses=None)
    def get(self, request, run_id: str):
        page = PageSerializer(data=request.query_params)
        page.is_valid(raise_exception=True)
        # newest first, as OpenAI lists them; a run keeps a handful, so the page is cut here
        checkpoints = [checkpoint_object(checkpoint) for checkpoint in reversed(run_checkpoints(_job(run_id)))]
        after = page.validated_data["after"]
        if after:
            ids = [checkpoint["id"] for checkpoint in checkpoints]
            checkpoints = checkpoints[ids.index(after) + 1 :] if after in ids else []
        limit = page.validated_data["limit"]
        return _page(checkpoints[:limit], len(checkpoints) > limit)


class JobCancelApi(OpenAIApi):
    @extend_schema(request=None, responses=None)
    def post(self, request, run_id: str):
        return Response(job_object(run_cancel(run=_job(run_id))))


class JobResumeApi(OpenAIApi):
    """OpenAI resumes a paused job; here a failed or cancelled run continues from its last checkpoint."""

    @extend_schema(request=None, responses=None)
    def post(self, request, run_id: str):
        return Response(job_object(run_resume(run=_job(run_id))))
