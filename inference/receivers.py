"""Work the model does when the bank or tuning announces something: queued, never done inline.

These run once the announcing transaction has committed, inside the request that caused it. A broker
that is down must not turn a saved submission into an error page: the failure is logged and the work
is picked up later (the grading sweep queues pending answers again).

MODEL_TASKS_ON_EVENTS switches off grading and explaining on events, never the evaluation of a new
version: promotion waits for it."""

import logging

from django.conf import settings
from django.dispatch import receiver

from quizbank.signals import answers_need_grading
from tuning.signals import version_promoted, version_registered, version_trained

logger = logging.getLogger(__name__)


def _enqueue(task, *args, then: str) -> bool:
    try:
        task.delay(*args)
    except Exception:  # the broker is down or refuses: what was announced is already committed
        logger.warning("could not queue %s%r: %s", task.name, args, then, exc_info=True)
        return False
    return True


@receiver(answers_need_grading, dispatch_uid="inference-grade-answers")
def grade_answers_with_model(sender, answer_ids, **kwargs) -> None:
    if not settings.MODEL_TASKS_ON_EVENTS:
        return
    from inference.tasks import grade_answer

    for answer_id in answer_ids:
        if not _enqueue(grade_answer, answer_id, then="the grading sweep queues it again"):
            break  # the broker is down: the grading sweep (inference.grade_pending) queues the rest


@receiver(version_promoted, dispatch_uid="inference-explain-bank")
def explain_bank_with_new_version(sender, version_name, **kwargs) -> None:
    if not settings.MODEL_TASKS_ON_EVENTS:
        return
    from inference.tasks import explain_bank

    _enqueue(explain_bank, version_name, then="the version is promoted; its explanations are not queued")


@receiver(version_trained, dispatch_uid="inference-evaluate-version")
def evaluate_new_version(
    sender: type, version_id: int, version_name: str, promote: bool = False, inline: bool = False, **kwargs: object
) -> None:
    """Evaluate a newly trained version, then promote it if its run asked for that. `inline` (tune
    --inline): here and now, so the version is evaluated (and promoted) when the command returns."""
    if inline:
        from inference.evaluation import version_evaluate

        version_evaluate(version_id=version_id, promote=promote)
        return
    from inference.tasks import evaluate_version

    _enqueue(
        evaluate_version,
        version_id,
        promote,
        then=f"{version_name} stays trained; `manage.py evaluate --new-version {version_name}` evaluates it",
    )


@receiver(version_registered, dispatch_uid="inference-score-registered-version")
def score_registered_version(
    sender: type, version_id: int, version_name: str, inline: bool = False, **kwargs: object
) -> None:
    """Score a registered version (a base model) on the evaluation suites, so that every version has
    scores to compare with; `inline`: here and now (as `bootstrap_model` does)."""
    if inline:
        from inference.evaluation import version_score_by_id

        version_score_by_id(version_id=version_id)
        return
    from inference.tasks import score_version

    _enqueue(score_version, version_id, then=f"`manage.py evaluate --version {version_name} --in-process` scores it")
