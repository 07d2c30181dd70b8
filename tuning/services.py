"""Writes for tuning: model versions, runs and their lifecycle.

The web process calls these too, so heavy imports stay inside the functions that train. A run's
version is registered trained and announced (signals.version_trained); inference evaluates it and
records the result here (version_evaluation_*), and promotion waits for that.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from core.exceptions import ApplicationError
from quizbank.selectors import dataset_alpaca, dataset_questions
from tuning import gates
from tuning.admission import run_admit, version_trainable_check
from tuning.checkpoints import CheckpointError, read_checkpoint
from tuning.compute import DEFAULT_POOL, pool_queue
from tuning.models import (
    TERMINAL_STATUSES,
    ModelVersion,
    PromotionAction,
    PromotionLog,
    RunEvent,
    RunStatus,
    TuningRun,
    VersionState,
)
from tuning.progress import progress_record, progress_restart
from tuning.signals import version_promoted, version_registered, version_trained
from tuning.training.config import ConfigError, TuningConfig, preset, settings_problems, validate

logger = logging.getLogger(__name__)

BASE_VERSION_NAME = "base"


# --- model versions ----------------------------------------------------------------------------


def version_register(
    *,
    name: str,
    path: Path | str,
    method: str,
    parent: ModelVersion | None = None,
    metrics: dict | None = None,
    config: dict | None = None,
    dataset_hash: str = "",
    state: str = VersionState.EVALUATED,
    config_only: bool = False,
) -> ModelVersion:
    """Register a model directory as a version. A run registers its result as trained (inference
    evaluates it); a directory registered by hand (a base model, a checkpoint) counts as evaluated."""
    model_dir = Path(path)
    if not (model_dir / "config.json").exists():
        raise ApplicationError(f"{path} is not a model directory (no config.json)", extra={"path": str(path)})
    template = model_dir / "chat_template.jinja"
    template_hash = hashlib.sha256(template.read_bytes()).hexdigest() if template.exists() else ""
    try:
        checkpoint = read_checkpoint(model_dir)
    except CheckpointError:
        checkpoint = None  # a directory this reader does not follow still registers; it has no estimate
    return ModelVersion.objects.create(
        name=name,
        path=str(path),
        method=method,
        parent=parent,
        metrics=metrics or {},
        config=config or {},
        dataset_hash=dataset_hash,
        template_hash=template_hash,
        state=state,
        architecture=checkpoint.architecture if checkpoint else "",
        parameters=checkpoint.parameters if checkpoint else None,
        spec=checkpoint.spec() if checkpoint else {},
        config_only=config_only,
    )


def version_promote(
    *, version: ModelVersion, force: bool = False, reason: str = "", actor: User | None = None
) -> ModelVersion:
    """Make `version` the one the model server serves (serve_model switches to it on its next check).

    Refused, unless `force`, while the version is not evaluated yet, and when a promotion gate (the
    evaluation suites, tuning/gates.py) finds a significant regression against the active version on
    the same items; the refusal names the suite and the p-value. `force` needs a `reason`. A promotion
    to a version older than the active one is a rollback. Every promotion, rollback and refusal is
    written to the audit log (PromotionLog), a refusal even though the promotion is rolled back.
    """
    version.refresh_from_db(fields=["state"])
    version_trainable_check(version=version, use="served")
    reason = reason.strip()
    if force and not reason:
        raise ApplicationError(
            "a forced promotion needs a reason: say why the checks are overridden",
            extra={"code": "reason_required", "field": "reason"},
        )
    if not force and version.state != VersionState.EVALUATED:
        raise ApplicationError(
            f"{version.name} is not evaluated yet ({version.get_state_display().lower()}): promotion waits for "
            "its evaluation; promote with force (and a reason) to do it anyway",
            extra={"version": version.name, "state": version.state},
        )
    active = ModelVersion.objects.filter(is_active=True).exclude(pk=version.pk).first()
    found = gates.refusals(version, active) if active is not None else []
    if found and not force:
        _promotion_refused(version=version, active=active, refusals=found, actor=actor)
    with transaction.atomic():
        return _promotion_commit(version=version, force=force, reason=reason, actor=actor, overridden=found)


def _promotion_commit(
    *, version: ModelVersion, force: bool, reason: str, actor: User | None, overridden: list[gates.Refusal]
) -> ModelVersion:
    active = ModelVersion.objects.select_for_update().filter(is_active=True).exclude(pk=version.pk).first()
    rollback = active is not None and version.created_at < active.created_at
    action = PromotionAction.ROLLBACK if rollback else PromotionAction.FORCED if force else PromotionAction.PROMOTE
    ModelVersion.objects.filter(is_active=True).exclude(pk=version.pk).update(is_active=False)
    ModelVersion.objects.filter(pk=version.pk).update(is_active=True, promoted_at=timezone.now())
    version.refresh_from_db()
    PromotionLog.objects.create(
        action=action,
        from_version=active.name if active else "",
        to_version=version.name,
        reason=reason,
        details={"state": version.state, "forced": force, "overridden": [refusal.as_dict() for refusal in overridden]},
        actor=actor,
    )
    name = version.name
    transaction.on_commit(lambda: version_promoted.send(sender=ModelVersion, version_name=name))
    return version


def _promotion_refused(
    *, version: ModelVersion, active: ModelVersion | None, refusals: list[gates.Refusal], actor: User | None
) -> None:
    """Log the refusal, then refuse."""
    details = {"refusals": [refusal.as_dict() for refusal in refusals]}
    message = "; ".join(refusal.message for refusal in refusals)
    from_name = active.name if active else ""
    PromotionLog.objects.create(
        action=PromotionAction.REFUSED,
        from_version=from_name,
        to_version=version.name,
        reason=message,
        details=details,
        actor=actor,
    )
    raise ApplicationError(
        f"{version.name} is worse than the active {from_name}: {message}; promote with force and a reason "
        "to do it anyway",
        extra={"code": "regression", **details},
    )


def base_model_bootstrap(*, texts: list[str], force: bool = False, inline: bool = False) -> ModelVersion:
    """Register the base model: BASE_MODEL_PATH if set, else a tiny model trained on `texts`.

    The first base model also becomes the active version, so there is always one to serve. It is
    announced (signals.version_registered): inference scores it on the evaluation suites, before this
    returns when `inline`.
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
        registered = version
        transaction.on_commit(
            lambda: version_registered.send(
                sender=ModelVersion, version_id=registered.pk, version_name=registered.name, inline=inline
            )
        )
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
    new_data_only: bool = False,
    created_by: User | None = None,
    enqueue: bool = True,
    pool: str = DEFAULT_POOL,
) -> TuningRun:
    """Snapshot the bank as instruction data, validate dataset and config, and queue the run.

    `new_data_only` continues training from `base_version` on the questions added since it was made.
    `overrides` may name training knobs only (TuningConfig.settable()); paths, the base model and the
    method come from the run, so submitted settings cannot point a run at another directory or model.
    """
    refused = settings_problems(overrides or {})
    if refused:
        key = sorted(refused)[0]
        raise ApplicationError(
            f"invalid tuning settings: {'; '.join(refused[name] for name in sorted(refused))}",
            extra={"code": "not_settable", "field": key, "fields": refused},
        )
    base_version = base_version or ModelVersion.objects.filter(name=BASE_VERSION_NAME).first()
    if base_version is None:
        raise ApplicationError("no base model: run `manage.py bootstrap_model` first")
    since = base_version.created_at if new_data_only else None
    records, question_ids = _run_dataset(subject=subject, split=split, since=since)

    with transaction.atomic():
        run = TuningRun.objects.create(
            method=method,
            stage=stage,
            base_version=base_version,
            config={},
            dataset_path="",
            dataset_size=len(records),
            question_ids=question_ids,
            subject=subject,
            split=split,
            promote=promote,
            created_by=created_by,
            pool=pool,
        )
        run_dir = settings.MODEL_ROOT / "runs" / f"run-{run.pk}"
        dataset_path = run_dir / "dataset.json"
        try:
            values = preset(method, dataset_size=len(records), memorise=memorise) | (overrides or {})
            config = validate(
                TuningConfig.from_dict(
                    {
                        **values,
                        # last, so that nothing merged above can replace them
                        "model_name_or_path": base_version.path,
                        "dataset_path": str(dataset_path),
                        "output_dir": str(run_dir),
                        "stage": stage,
                        "finetuning_type": method,
                    }
                )
            )
        except (ConfigError, TypeError) as exc:
            raise ApplicationError(f"invalid tuning settings: {exc}", extra={"method": method}) from exc
        run_admit(run=run, values=config.to_dict(), pool_check=enqueue)  # a queued run must fit its pool
        run_dir.mkdir(parents=True, exist_ok=True)
        dataset_path.write_text(json.dumps(records, ensure_ascii=False, indent=1), encoding="utf-8")
        run.config = config.to_dict()
        run.dataset_path = str(dataset_path)
        run.status = RunStatus.QUEUED
        run.save(update_fields=["config", "dataset_path", "status"])
        run_event_add(run=run, message=f"dataset valid: {len(records)} records", data={"records": len(records)})
        run_event_add(run=run, message=f"queued: {method}/{stage} on {len(records)} records from {base_version}")
        if enqueue:
            transaction.on_commit(lambda: run_enqueue(run_id=run.pk))
    return run


def _run_dataset(*, subject: str, split: str, since: datetime | None) -> tuple[list[dict], list[int]]:
    """A run's instruction records (the bank's questions, then teachers' grades), validated, and the ids
    of the question versions among them."""
    pairs = dataset_questions(subject=subject, split=split, created_after=since)
    records = [record for _, record in pairs]
    records += teacher_grading_records(subject=subject, split=split, graded_after=since)
    if not records:
        raise ApplicationError("no questions to train on", extra={"subject": subject, "split": split})
    problems = dataset_problems(records)
    if problems:
        raise ApplicationError("the dataset is not valid", extra={"errors": problems[:20]})
    return records, [question_id for question_id, _ in pairs]


NOT_QUEUED = "not queued: the broker did not answer; the recovery sweep queues it again"


def run_enqueue(*, run_id: int) -> bool:
    """Send a queued run to the tuning workers. The broker may be down: the run stays queued, says so,
    and `runs_recover_stale` sends it when the broker is back (a run is claimed once, so a message
    sent twice trains once)."""
    from tuning.tasks import run_tuning

    pool = TuningRun.objects.filter(pk=run_id).values_list("pool", flat=True).first() or DEFAULT_POOL
    try:  # the default pool's queue is the task's route; another pool's is named
        run_tuning.apply_async((run_id,), queue=pool_queue(pool)) if pool != DEFAULT_POOL else run_tuning.delay(run_id)
    except Exception:  # any broker failure: the run row is committed and is not lost
        logger.exception("run %s could not be queued", run_id)
        run = TuningRun.objects.filter(pk=run_id).first()
        if run is not None:
            run_event_add(run=run, level=RunEvent.Level.WARN, message=NOT_QUEUED)
        return False
    return True


def teacher_grading_records(
    *, subject: str = "", split: str = "train", graded_after: datetime | None = None
) -> list[dict]:
    """Teachers' grades as grader training records, so their overrides teach the next version. Answers
    to questions of the test split never train: they measure the grader (grading_agreement)."""
    from quizbank.prompt_inputs import grading_records
    from quizbank.selectors import teacher_graded_answers

    splits = ("train", "val") if split == "all" else tuple({split} - {"test"})
    answers = [
        answer
        for one_split in splits
        for answer in teacher_graded_answers(subject=subject, split=one_split, allow_non_commercial=False)
        if graded_after is None or (answer.graded_at and answer.graded_at > graded_after)
    ]
    answers.sort(key=lambda answer: answer.pk)
    return list(grading_records(answers, examples=settings.GRADING_EXAMPLES))


def run_event_add(*, run: TuningRun, message: str, level: str = RunEvent.Level.INFO, data: dict | None = None) -> None:
    RunEvent.objects.create(run=run, level=level, message=message, data=data or {})


def dataset_problems(records: list[dict]) -> list[str]:
    """Schema checks of instruction records before a run is queued."""
    problems = []
    for index, record in enumerate(records, start=1):
        if set(record) != {"instruction", "input", "output"}:
            problems.append(f"record {index}: keys must be instruction, input, output")
        elif not all(isinstance(value, str) for value in record.values()):
            problems.append(f"record {index}: values must be strings")
        elif not record["output"].strip():
            problems.append(f"record {index}: the output is empty")
    return problems


def run_claim(*, run_id: int) -> bool:
    """Move a queued run to running; False if another worker (or a redelivery) got it first."""
    now = timezone.now()
    claimed = TuningRun.objects.filter(pk=run_id, status=RunStatus.QUEUED).update(
        status=RunStatus.RUNNING, started_at=now, heartbeat_at=now, attempts=F("attempts") + 1
    )
    return claimed == 1


def run_heartbeat(*, run_id: int) -> None:
    TuningRun.objects.filter(pk=run_id, status=RunStatus.RUNNING).update(heartbeat_at=timezone.now())


def run_resume(*, run: TuningRun, enqueue: bool = True) -> TuningRun:
    """Queue a failed, cancelled or abandoned run again; it continues from its last checkpoint."""
    resumable = (RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.RUNNING)
    stale = timezone.now() - timedelta(seconds=settings.TUNING_STALE_SECONDS)
    updated = TuningRun.objects.filter(
        Q(status__in=resumable[:2]) | Q(status=RunStatus.RUNNING, heartbeat_at__lt=stale), pk=run.pk
    ).update(status=RunStatus.QUEUED, resume=True, cancel_requested=False, error="", finished_at=None)
    if not updated:
        raise ApplicationError(f"run {run.pk} is {run.status}; only failed, cancelled or abandoned runs resume")
    run_event_add(run=run, message="queued again: it continues from its last checkpoint")
    if enqueue:
        transaction.on_commit(lambda: run_enqueue(run_id=run.pk))
    run.refresh_from_db()
    return run


def runs_recover_stale() -> list[int]:
    """Runs whose worker died (no heartbeat for TUNING_STALE_SECONDS): queued again to resume, or
    failed with the reason after TUNING_MAX_ATTEMPTS. No run stays `running` without a worker."""
    stale = timezone.now() - timedelta(seconds=settings.TUNING_STALE_SECONDS)
    recovered = []
    for run in TuningRun.objects.filter(status=RunStatus.RUNNING, heartbeat_at__lt=stale):
        if run.attempts >= settings.TUNING_MAX_ATTEMPTS:
            if TuningRun.objects.filter(pk=run.pk, status=RunStatus.RUNNING, heartbeat_at__lt=stale).update(
                status=RunStatus.FAILED,
                finished_at=timezone.now(),
                error=f"the worker stopped answering {run.attempts} times; giving up",
            ):
                run_event_add(run=run, level=RunEvent.Level.ERROR, message="failed: the worker was lost")
        else:
            run_resume(run=run)
        recovered.append(run.pk)
    for run in TuningRun.objects.filter(status=RunStatus.QUEUED):
        last = run.events.order_by("-id").first()
        if last is not None and last.message == NOT_QUEUED and run_enqueue(run_id=run.pk):
            run_event_add(run=run, message="queued")
            recovered.append(run.pk)
    return recovered


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


def run_execute(*, run_id: int, on_progress: Callable[[dict], None] | None = None, inline: bool = False) -> TuningRun:
    """Train, merge and register the result as a trained version, then announce it: inference evaluates
    it (queued, or before this returns when `inline`) and promotes it if the run asked for that.
    Safe under redelivery: only the claimer trains."""
    if not run_claim(run_id=run_id):
        logger.info("run %s is not queued any more; nothing to do", run_id)
        return TuningRun.objects.get(pk=run_id)
    run = TuningRun.objects.select_related("base_version").get(pk=run_id)
    run.metrics = progress_restart(run.metrics)
    run_event_add(run=run, message="training started")

    from tuning.training.workflow import run_training  # torch: only in the worker

    def report(event: dict) -> None:
        """A message (a state change, a warning) becomes an event; a progress tick is kept on the run."""
        now = timezone.now()
        update: dict = {"heartbeat_at": now}
        if "message" in event:
            level = event.pop("level", RunEvent.Level.INFO)
            run_event_add(run=run, level=level, message=event.pop("message"), data=event)
        else:
            # kept on the instance too: a failed run is saved with its last progress and curves
            run.metrics = update["metrics"] = progress_record(run.metrics, event, at=now.timestamp())
            if event.get("max_steps"):
                update["progress"] = event["step"] / event["max_steps"]
        TuningRun.objects.filter(pk=run.pk).update(**update)
        if on_progress:
            on_progress(event)

    def should_cancel() -> bool:
        return TuningRun.objects.filter(pk=run.pk, cancel_requested=True).exists()

    try:
        result = run_training(
            TuningConfig.from_dict(run.config), report=report, should_cancel=should_cancel, resume=run.resume
        )
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
        version = run.output_version = version_register(
            name=f"ft-{run.pk}",
            path=result.model_dir,
            method=run.method,
            parent=run.base_version,
            metrics=result.metrics,
            config=run.config,  # how it was trained, the devices included
            state=VersionState.TRAINED,
        )
        run.progress = 1.0
        run.save(update_fields=["progress"])
        _run_finish(run=run, status=RunStatus.SUCCEEDED, metrics=result.metrics)
        run_event_add(run=run, message=f"succeeded: model version {version.name}", data=result.metrics)
        promote = run.promote
        transaction.on_commit(
            lambda: version_trained.send(
                sender=ModelVersion, version_id=version.pk, version_name=version.name, promote=promote, inline=inline
            )
        )
    return run


# --- evaluation of a new version (done by inference, recorded here) ---------------------------

EVALUABLE = (VersionState.TRAINED,)
EVALUABLE_AGAIN = (VersionState.TRAINED, VersionState.EVALUATING, VersionState.EVALUATION_FAILED)


def version_evaluation_start(*, version_id: int, again: bool = False) -> ModelVersion | None:
    """Claim a trained version for evaluation (trained -> evaluating); None when it is gone or another
    worker (or a redelivered message) has it. `again` also takes one whose evaluation failed or was
    interrupted (an admin's retry)."""
    states = EVALUABLE_AGAIN if again else EVALUABLE
    if not ModelVersion.objects.filter(pk=version_id, state__in=states).update(state=VersionState.EVALUATING):
        return None
    version = ModelVersion.objects.get(pk=version_id)
    version_event_add(version=version, message=f"evaluating {version.name}")
    return version


def version_evaluation_finish(*, version: ModelVersion, metrics: dict) -> ModelVersion:
    """Store what the evaluation measured (merged into the version's metrics and its run's) and mark
    the version evaluated: promotable."""
    with transaction.atomic():
        version = ModelVersion.objects.select_for_update().get(pk=version.pk)
        version.metrics = {**version.metrics, **metrics}
        version.state = VersionState.EVALUATED
        version.save(update_fields=["metrics", "state"])
        run = TuningRun.objects.filter(output_version=version).first()
        if run is not None:
            run.metrics = {**run.metrics, **metrics}
            run.save(update_fields=["metrics"])
        for suite, summary in sorted((metrics.get("suites") or {}).items()):
            version_event_add(version=version, message=f"scored on {suite}: {_summary_text(summary)}", data=summary)
        version_event_add(version=version, message=f"evaluated: {version.name} may be promoted")
    return version


def _summary_text(summary: dict) -> str:
    parts = [f"n={summary.get('n')}"]
    for key, label in (("answer_accuracy", "accuracy"), ("explanation_fidelity", "fidelity"), ("grading_qwk", "QWK")):
        if summary.get(key) is not None:
            parts.append(f"{label} {summary[key]}")
    return ", ".join(parts)


def version_metrics_merge(*, version: ModelVersion, metrics: dict) -> ModelVersion:
    """Merge measurements of a version (its scores on the evaluation suites) into its metrics."""
    with transaction.atomic():
        version = ModelVersion.objects.select_for_update().get(pk=version.pk)
        version.metrics = {**version.metrics, **metrics}
        version.save(update_fields=["metrics"])
    return version


def version_evaluation_fail(*, version: ModelVersion, error: str) -> ModelVersion:
    """The evaluation could not be done: the version stays registered, marked evaluation_failed, and
    is not promoted (`manage.py evaluate --new-version NAME` tries again)."""
    ModelVersion.objects.filter(pk=version.pk).update(state=VersionState.EVALUATION_FAILED)
    version.refresh_from_db()
    version_event_add(version=version, level=RunEvent.Level.ERROR, message=f"evaluation failed: {error}")
    return version


def version_event_add(
    *, version: ModelVersion, message: str, level: str = RunEvent.Level.INFO, data: dict | None = None
) -> None:
    """An event on the run that produced `version` (versions registered by hand have none)."""
    run = TuningRun.objects.filter(output_version=version).first()
    if run is not None:
        run_event_add(run=run, message=message, level=level, data=data)


def retrain_if_due(*, min_new_questions: int | None = None, min_new_grades: int | None = None) -> TuningRun | None:
    """Scheduled retraining: when enough questions or enough teacher grades arrived since the active
    version was made, continue training it on them (LoRA, auto settings), with promote=True: the new
    version goes through the evaluation and promotion gate like any other run's.

    The thresholds come from the periodic task's kwargs (None: the settings' defaults); 0 switches
    that trigger off."""
    if min_new_questions is None:
        min_new_questions = settings.TUNING_RETRAIN_MIN_NEW_QUESTIONS
    if min_new_grades is None:
        min_new_grades = settings.TUNING_RETRAIN_MIN_NEW_GRADES
    active = ModelVersion.objects.filter(is_active=True).first()
    if active is None or TuningRun.objects.exclude(status__in=TERMINAL_STATUSES).exists():
        return None
    # counted as run_create(new_data_only=True) will take them
    questions = len(dataset_alpaca(created_after=active.created_at)) if min_new_questions > 0 else 0
    grades = len(teacher_grading_records(split="all", graded_after=active.created_at)) if min_new_grades > 0 else 0
    if not (0 < min_new_questions <= questions or 0 < min_new_grades <= grades):
        return None
    logger.info("%s new questions and %s new teacher grades since %s: retraining", questions, grades, active.name)
    return run_create(method="lora", base_version=active, new_data_only=True, split="all", promote=True)
