"""Writes for tuning: model versions, runs and their lifecycle.

The web process calls these too, so heavy imports stay inside the functions that train.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from quizbank.selectors import dataset_alpaca
from quizsite.exceptions import ApplicationError
from tuning.models import TERMINAL_STATUSES, ModelVersion, RunEvent, RunStatus, TuningRun
from tuning.training.config import ConfigError, TuningConfig, preset, validate

logger = logging.getLogger(__name__)

BASE_VERSION_NAME = "base"


# --- model versions ----------------------------------------------------------------------------


def version_register(
    *, name: str, path: Path | str, method: str, parent: ModelVersion | None = None, metrics: dict | None = None
) -> ModelVersion:
    if not (Path(path) / "config.json").exists():
        raise ApplicationError(f"{path} is not a model directory (no config.json)", extra={"path": str(path)})
    return ModelVersion.objects.create(name=name, path=str(path), method=method, parent=parent, metrics=metrics or {})


@transaction.atomic
def version_promote(*, version: ModelVersion) -> ModelVersion:
    """Make `version` the one the model server serves (restart serve_model to switch)."""
    ModelVersion.objects.filter(is_active=True).exclude(pk=version.pk).update(is_active=False)
    ModelVersion.objects.filter(pk=version.pk).update(is_active=True)
    version.refresh_from_db()
    return version


def base_model_bootstrap(*, texts: list[str], force: bool = False) -> ModelVersion:
    """Register the base model: BASE_MODEL_PATH if set, else a tiny model trained on `texts`.

    The first base model also becomes the active version, so there is always one to serve.
    """
    existing = ModelVersion.objects.filter(name=BASE_VERSION_NAME).first()
    if existing and not force:
        return existing
    if settings.BASE_MODEL_PATH:
        path, method = Path(settings.BASE_MODEL_PATH), "checkpoint"
    else:
        if not texts:
            raise ApplicationError("the bank is empty: import questions first, the tokenizer is trained on them")
        from tuning.training.bootstrap import bootstrap_tiny_model  # torch: only here

        path, method = settings.MODEL_ROOT / "base" / "tiny-deepseek-qwen2", "bootstrap"
        bootstrap_tiny_model(texts, path)
    with transaction.atomic():
        if existing:
            # runs keep their base version: the old one stays, under another name
            existing.name = f"{BASE_VERSION_NAME}-{existing.pk}"
            existing.save(update_fields=["name"])
        version = version_register(name=BASE_VERSION_NAME, path=path, method=method)
        if existing is None or existing.is_active or not ModelVersion.objects.filter(is_active=True).exists():
            version_promote(version=version)
    return version


# --- runs --------------------------------------------------------------------------------------


def run_create(
    *,
    method: str,
    stage: str = "sft",
    base_version: ModelVersion | None = None,
    overrides: dict | None = None,
    subject: str = "",
    split: str = "train",
    memorise: bool = False,
    promote: bool = False,
    created_by=None,
    enqueue: bool = True,
) -> TuningRun:
    """Snapshot the bank as instruction data, validate the config, and queue the run."""
    base_version = base_version or ModelVersion.objects.filter(name=BASE_VERSION_NAME).first()
    if base_version is None:
        raise ApplicationError("no base model: run `manage.py bootstrap_model` first")
    records = dataset_alpaca(subject=subject, split=split)
    if not records:
        raise ApplicationError("no questions to train on", extra={"subject": subject, "split": split})

    with transaction.atomic():
        run = TuningRun.objects.create(
            method=method,
            stage=stage,
            base_version=base_version,
            config={},
            dataset_path="",
            dataset_size=len(records),
            promote=promote,
            created_by=created_by,
        )
        run_dir = settings.MODEL_ROOT / "runs" / f"run-{run.pk}"
        dataset_path = run_dir / "dataset.json"
        try:
            values = preset(method, dataset_size=len(records), memorise=memorise) | (overrides or {})
            config = validate(
                TuningConfig.from_dict(
                    {
                        "model_name_or_path": base_version.path,
                        "dataset_path": str(dataset_path),
                        "output_dir": str(run_dir),
                        "stage": stage,
                        **values,
                    }
                )
            )
        except (ConfigError, TypeError) as exc:
            raise ApplicationError(f"invalid tuning settings: {exc}", extra={"method": method}) from exc
        run_dir.mkdir(parents=True, exist_ok=True)
        dataset_path.write_text(json.dumps(records, ensure_ascii=False, indent=1), encoding="utf-8")
        run.config = config.to_dict()
        run.dataset_path = str(dataset_path)
        run.save(update_fields=["config", "dataset_path"])
        run_event_add(run=run, message=f"queued: {method}/{stage} on {len(records)} records from {base_version}")
        if enqueue:
            from tuning.tasks import run_tuning

            transaction.on_commit(lambda: run_tuning.delay(run.pk))
    return run


def run_event_add(*, run: TuningRun, message: str, level: str = RunEvent.Level.INFO, data: dict | None = None) -> None:
    RunEvent.objects.create(run=run, level=level, message=message, data=data or {})


def run_claim(*, run_id: int) -> bool:
    """Move a queued run to running; False if another worker (or a redelivery) got it first."""
    claimed = TuningRun.objects.filter(pk=run_id, status=RunStatus.QUEUED).update(
        status=RunStatus.RUNNING, started_at=timezone.now()
    )
    return claimed == 1


def run_cancel(*, run: TuningRun) -> TuningRun:
    if run.status in TERMINAL_STATUSES:
        raise ApplicationError(f"run {run.pk} has already ended ({run.status})")
    if TuningRun.objects.filter(pk=run.pk, status=RunStatus.QUEUED).update(
        status=RunStatus.CANCELLED, finished_at=timezone.now()
    ):
        run_event_add(run=run, message="cancelled before it started")
    else:
        TuningRun.objects.filter(pk=run.pk).update(cancel_requested=True)
        run_event_add(run=run, message="cancel requested: training stops at the next step")
    run.refresh_from_db()
    return run


def _run_finish(*, run: TuningRun, status: str, error: str = "", metrics: dict | None = None) -> None:
    run.status = status
    run.error = error
    run.finished_at = timezone.now()
    run.metrics = metrics or run.metrics
    run.save(update_fields=["status", "error", "finished_at", "metrics", "output_version"])


def run_execute(*, run_id: int, on_progress: Callable[[dict], None] | None = None) -> TuningRun:
    """Train, merge and register the result. Safe under redelivery: only the claimer trains."""
    if not run_claim(run_id=run_id):
        logger.info("run %s is not queued any more; nothing to do", run_id)
        return TuningRun.objects.get(pk=run_id)
    run = TuningRun.objects.select_related("base_version").get(pk=run_id)
    run_event_add(run=run, message="training started")

    from tuning.training.workflow import run_training  # torch: only in the worker

    def report(event: dict) -> None:
        if event.get("max_steps"):
            TuningRun.objects.filter(pk=run.pk).update(progress=event["step"] / event["max_steps"])
        run_event_add(run=run, message=event.pop("message", "progress"), data=event)
        if on_progress:
            on_progress(event)

    def should_cancel() -> bool:
        return TuningRun.objects.filter(pk=run.pk, cancel_requested=True).exists()

    try:
        result = run_training(TuningConfig.from_dict(run.config), report=report, should_cancel=should_cancel)
    except Exception as exc:
        logger.exception("run %s failed", run.pk)
        run_event_add(run=run, level=RunEvent.Level.ERROR, message=f"failed: {exc}")
        _run_finish(run=run, status=RunStatus.FAILED, error=f"{type(exc).__name__}: {exc}")
        return run

    if should_cancel():
        _run_finish(run=run, status=RunStatus.CANCELLED, metrics=result.metrics)
        run_event_add(run=run, message="cancelled; the partial model was saved but not registered")
        return run
    with transaction.atomic():
        run.output_version = version_register(
            name=f"ft-{run.pk}",
            path=result.model_dir,
            method=run.method,
            parent=run.base_version,
            metrics=result.metrics,
        )
        run.progress = 1.0
        run.save(update_fields=["progress"])
        _run_finish(run=run, status=RunStatus.SUCCEEDED, metrics=result.metrics)
        run_event_add(run=run, message=f"succeeded: model version {run.output_version.name}", data=result.metrics)
        if run.promote:
            version_promote(version=run.output_version)
    return run
