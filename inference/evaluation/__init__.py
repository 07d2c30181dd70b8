"""How well a model version knows the bank and grades like its teachers, measured on evaluation
suites (suites.py) through the path students use (scoring.py), and compared before a promotion
(gate.py).

`version_evaluate` is what a newly trained version goes through before it may be promoted (tuning
announces it; receivers.py starts this): it is scored on every current suite, in this process since no
server serves it yet, and so is the active version on any suite it lacks, so that the gate compares
the two on the same items. `version_score` scores a registered version (a base model) the same way.
`grading_agreement` is the grader's agreement with the teachers on a list of answers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path

from core.exceptions import ApplicationError
from inference.engines import active_version, get_engine
from inference.engines.base import Engine, ModelServerError
from inference.evaluation.scoring import SUMMARY_KEYS, grading_figures, grading_request, score_version
from inference.evaluation.suites import current_suites
from inference.grading import GradingOutputError, grade_parse
from inference.models import EvalRun
from quizbank.models import Answer, answer_worth
from tuning.models import ModelVersion, RunEvent
from tuning.services import (
    version_evaluation_fail,
    version_evaluation_finish,
    version_evaluation_start,
    version_event_add,
    version_metrics_merge,
    version_promote,
)

logger = logging.getLogger(__name__)


def grading_agreement(
    answers: Iterable[Answer], *, client, concurrency: int = 8, max_tokens: int | None = None
) -> dict:
    """The model's grades of teacher-graded answers beside the teachers': QWK on a 0..10 scale of each
    item's worth, exact agreement on that scale and the mean difference in points.

    The prompt is the live grader's; its examples are the teacher's own sample answers, so no held-out
    grade is shown to the model. Output that is not a grade, and requests that failed,
    count as 0 marks (as the live grader would not give the answer a grade either)."""
    answers = list(answers)
    started = time.monotonic()
    built = [grading_request(answer, max_tokens=max_tokens) for answer in answers]
    results = client.chat_many([request for request, _ in built], concurrency=concurrency) if built else []
    scores = []
    unparsable = failed = 0
    for answer, (_, rubric), result in zip(answers, built, results, strict=True):
        worth = answer_worth(answer)
        model_score = Decimal(0)
        if isinstance(result, Exception):
            failed += 1
        else:
            try:
                model_score = grade_parse(result.text, rubric=rubric, worth=worth).score
            except GradingOutputError:
                unparsable += 1
        scores.append((answer.score or Decimal(0), model_score, worth))
    qwk, exact, mean_error = grading_figures(scores)
    return {
        "n": len(answers),
        "qwk": qwk,
        "exact_agreement": exact,
        "mean_abs_error": mean_error,
        "unparsable": unparsable,
        "failed_requests": failed,
        "seconds": round(time.monotonic() - started, 2),
    }


# --- the checks a new version goes through ---------------------------------------------------------


def version_evaluate(*, version_id: int, promote: bool = False, again: bool = False) -> ModelVersion | None:
    """Evaluate a trained version (trained -> evaluating -> evaluated), then promote it if its run asked
    for that and the gate finds no significant regression against the active version. Nothing is lost
    when a check fails: the version stays registered, marked evaluation_failed, and is not promoted.
    None when the version is gone or already taken by another evaluation (`again` retries a failed or
    interrupted one)."""
    version = version_evaluation_start(version_id=version_id, again=again)
    if version is None:
        logger.info("version %s is not waiting for evaluation; nothing to do", version_id)
        return None
    try:
        scores = version_score(version=version)
    except Exception as exc:  # whatever broke, the trained version stays and says why it is not promotable
        logger.exception("version %s: evaluation failed", version.name)
        return version_evaluation_fail(version=version, error=f"{type(exc).__name__}: {exc}")
    version = version_evaluation_finish(version=version, metrics={"suites": scores})
    if promote:
        try:
            version_promote(version=version)
        except ApplicationError as exc:
            version_event_add(version=version, level=RunEvent.Level.WARN, message=f"not promoted: {exc.message}")
        else:
            version_event_add(version=version, message=f"promoted: {version.name} is the active version")
    return version


def version_score(*, version: ModelVersion, again: bool = False) -> dict:
    """Score `version` on every current suite, and the active version on any of them it lacks (so the
    gate has pairs); each through the server where it serves that version, else in this process.
    Returns the version's summary per suite (also kept in both versions' metrics)."""
    active = active_version()
    if active is not None and active.pk == version.pk:
        active = None
    engines: dict[int, tuple[Engine, str]] = {}
    for suite in current_suites(version):
        for one in (version, active):
            if one is None:
                continue
            if one.pk not in engines:
                engines[one.pk] = engine_for(one)
            engine, kind = engines[one.pk]
            score_version(version=one, suite=suite, engine=engine, engine_kind=kind, again=again and one == version)
    for one in (version, active):
        if one is not None:
            version_metrics_merge(version=one, metrics={"suites": suite_summaries(one)})
    return suite_summaries(version)


def version_score_by_id(*, version_id: int) -> dict | None:
    """version_score for a version that may be gone (a queued task): None then. A failure is logged,
    never raised: the version stays registered, without scores until scored again."""
    version = ModelVersion.objects.filter(pk=version_id).first()
    if version is None:
        return None
    try:
        return version_score(version=version)
    except Exception:
        logger.exception("version %s could not be scored", version.name)
        return None


def suite_summaries(version: ModelVersion) -> dict:
    """{suite name: the headline figures of the newest revision it was scored on}."""
    summaries: dict = {}
    runs = EvalRun.objects.filter(version=version, status=EvalRun.Status.DONE).select_related("suite")
    for run in runs.order_by("suite__name", "-suite__revision"):
        if run.suite.name in summaries:
            continue
        summaries[run.suite.name] = {"revision": run.suite.revision} | {
            key: run.metrics[key] for key in SUMMARY_KEYS if key in run.metrics
        }
    return summaries


def engine_for(version: ModelVersion) -> tuple[Engine, str]:
    """The model server when it serves `version` (the path students use), else the version in this process."""
    engine = get_engine()
    if engine.model == version.name or _serves(engine, version.name):
        return engine, SERVER
    return local_engine(version.path, version.name), IN_PROCESS


SERVER, IN_PROCESS = "server", "in-process"


def _serves(engine: Engine, name: str) -> bool:
    try:
        return name in engine.served_models()
    except ModelServerError:
        return False


def local_engine(model_dir: Path | str, name: str) -> Engine:
    """The version loaded in this process (torch is imported when it first answers)."""
    from inference.engines.local import LocalEngine

    return LocalEngine(model_dir, name)
