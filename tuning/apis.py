"""Tuning API shaped like the OpenAI fine-tuning API (/api/v1/tuning/...). Admins only."""

import time

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from core.throttling import ThrottledPostOnly
from quizbank.roles import is_admin
from tuning.models import ModelVersion, TuningRun
from tuning.selectors import run_checkpoints, run_progress
from tuning.services import run_cancel, run_create, run_resume, version_promote
from tuning.training.config import TuningConfig


class IsTuningAdmin(BasePermission):
    message = "Only admins can tune models."

    def has_permission(self, request, view) -> bool:
        return is_admin(request.user)


def _unix(value):
    return int(value.timestamp()) if value else None


class RunSerializer(serializers.ModelSerializer):
    """fine_tuning.job"""

    object = serializers.SerializerMethodField()
    id = serializers.SerializerMethodField()
    model = serializers.CharField(source="base_version.name")
    fine_tuned_model = serializers.SerializerMethodField()
    hyperparameters = serializers.SerializerMethodField()
    created_at = serializers.SerializerMethodField()
    finished_at = serializers.SerializerMethodField()
    error = serializers.SerializerMethodField()
    training_progress = serializers.SerializerMethodField()
    estimated_finish = serializers.SerializerMethodField()

    class Meta:
        model = TuningRun
        fields = [
            "object",
            "id",
            "model",
            "fine_tuned_model",
            "status",
            "method",
            "stage",
            "pool",
            "hyperparameters",
            "dataset_size",
            "progress",
            "metrics",
            "created_at",
            "finished_at",
            "estimated_finish",
            "training_progress",
            "error",
        ]

    def get_object(self, run) -> str:
        return "fine_tuning.job"

    def get_id(self, run) -> str:
        return f"ftjob-{run.pk}"

    def get_fine_tuned_model(self, run) -> str | None:
        return run.output_version.name if run.output_version_id else None

    def get_hyperparameters(self, run) -> dict:
        """The run's training knobs; its paths (model, dataset, output) stay on the server."""
        settable = TuningConfig.settable()
        return {key: value for key, value in run.config.items() if key in settable}

    def get_created_at(self, run) -> int:
        return _unix(run.created_at)

    def get_finished_at(self, run) -> int | None:
        return _unix(run.finished_at)

    def get_error(self, run) -> dict | None:
        return {"message": run.error} if run.error else None

    def get_training_progress(self, run) -> dict:
        """step, max_steps, epoch, tokens_per_second, seconds_left, loss, eval_loss (the latest report)"""
        return run_progress(run)

    def get_estimated_finish(self, run) -> int | None:
        left = run_progress(run)["seconds_left"]
        return int(time.time() + left) if left is not None else None


class RunCreateSerializer(serializers.Serializer):
    method = serializers.ChoiceField(choices=["lora", "freeze", "full"])
    stage = serializers.ChoiceField(choices=["sft", "pt"], default="sft")
    model = serializers.CharField(required=False, default="", help_text="base model version (default: base)")
    hyperparameters = serializers.DictField(default=dict, help_text="overrides of the auto preset")
    subject = serializers.CharField(required=False, default="")
    split = serializers.ChoiceField(choices=["train", "all"], default="train")
    new_data_only = serializers.BooleanField(default=False)
    promote = serializers.BooleanField(default=False)
    pool = serializers.RegexField(r"^[a-z0-9_-]{1,50}$", default="default", help_text="Celery queue tuning.<pool>")


def _run(run_id: str) -> TuningRun:
    return get_object_or_404(TuningRun, pk=str(run_id).removeprefix("ftjob-"))


class RunListApi(APIView):
    permission_classes = [IsTuningAdmin]
    # Creating a run queues GPU work: limited per admin (THROTTLE_RATES["tuning"]); listing is not.
    throttle_classes = [ThrottledPostOnly]
    throttle_scope = "tuning"

    @extend_schema(responses=RunSerializer(many=True))
    def get(self, request):
        runs = TuningRun.objects.select_related("base_version", "output_version")[:100]
        return Response({"object": "list", "data": RunSerializer(runs, many=True).data, "has_more": False})

    @extend_schema(request=RunCreateSerializer, responses={201: RunSerializer})
    def post(self, request):
        serializer = RunCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        base = get_object_or_404(ModelVersion, name=data["model"]) if data["model"] else None
        run = run_create(
            method=data["method"],
            stage=data["stage"],
            base_version=base,
            overrides=data["hyperparameters"],
            subject=data["subject"],
            split=data["split"],
            new_data_only=data["new_data_only"],
            promote=data["promote"],
            created_by=request.user,
            pool=data["pool"],
        )
        return Response(RunSerializer(run).data, status=status.HTTP_201_CREATED)


class RunDetailApi(APIView):
    permission_classes = [IsTuningAdmin]

    @extend_schema(responses=RunSerializer)
    def get(self, request, run_id: str):
        return Response(RunSerializer(_run(run_id)).data)


class RunEventsApi(APIView):
    permission_classes = [IsTuningAdmin]

    @extend_schema(responses=None)
    def get(self, request, run_id: str):
        run = _run(run_id)
        events = [
            {
                "object": "fine_tuning.job.event",
                "id": f"ftevent-{event.pk}",
                "created_at": _unix(event.created_at),
                "level": event.level,
                "message": event.message,
                "data": event.data,
                "type": "metrics" if event.data.get("metrics") else "message",
            }
            for event in run.events.order_by("-id")[:500]
        ]
        return Response({"object": "list", "data": events, "has_more": False})


class RunCheckpointsApi(APIView):
    permission_classes = [IsTuningAdmin]

    @extend_schema(responses=None)
    def get(self, request, run_id: str):
        checkpoints = [
            {key: value for key, value in checkpoint.items() if key != "path"}
            for checkpoint in run_checkpoints(_run(run_id))
        ]
        return Response({"object": "list", "data": checkpoints, "has_more": False})


class RunCancelApi(APIView):
    permission_classes = [IsTuningAdmin]

    @extend_schema(request=None, responses=RunSerializer)
    def post(self, request, run_id: str):
        return Response(RunSerializer(run_cancel(run=_run(run_id))).data)


class RunResumeApi(APIView):
    permission_classes = [IsTuningAdmin]

    @extend_schema(request=None, responses=RunSerializer)
    def post(self, request, run_id: str):
        return Response(RunSerializer(run_resume(run=_run(run_id))).data)


class PromoteSerializer(serializers.Serializer):
    force = serializers.BooleanField(default=False)
    reason = serializers.CharField(default="", allow_blank=True, max_length=2000)


class VersionPromoteApi(APIView):
    permission_classes = [IsTuningAdmin]

    @extend_schema(request=PromoteSerializer, responses=None)
    def post(self, request, name: str):
        serializer = PromoteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        version = version_promote(
            version=get_object_or_404(ModelVersion, name=name), actor=request.user, **serializer.validated_data
        )
        return Response(
            {"name": version.name, "is_active": version.is_active, "state": version.state, "metrics": version.metrics}
        )
