"""Thin tasks: ids in, one service call. The model server may be down: grading retries later and
nothing is lost (the answer is already stored and waits as pending)."""

import logging
import random

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task(name="inference.grade_answer", bind=True, acks_late=True, ignore_result=True, max_retries=48)
def grade_answer(self, answer_id: int) -> None:
    from inference.engines.base import ModelRequestRefused, ModelServerError
    from inference.grading import answer_grade_with_model

    try:
        answer_grade_with_model(answer_id=answer_id)
    except ModelRequestRefused:
        raise  # never retried: answer_grade_with_model already sent the answer to the teachers' queue
    except ModelServerError as exc:
        # Backoff grows to five minutes, for about four hours; the answer stays pending (and in the
        # teachers' grading queue) meanwhile and after. Half of it at random: a class that submitted
        # together while the server was down does not retry together.
        backoff = min(300, 5 * 2 ** min(self.request.retries, 6))
        raise self.retry(exc=exc, countdown=backoff / 2 + random.uniform(0, backoff / 2)) from exc


@shared_task(name="inference.evaluate_version", acks_late=True, ignore_result=True)
def evaluate_version(version_id: int, promote: bool = False) -> None:
    """The checks a newly trained version goes through (routed to the `tuning` queue: it loads the
    version in process, on the GPU host)."""
    from inference.evaluation import version_evaluate

    version_evaluate(version_id=version_id, promote=promote)


@shared_task(name="inference.score_version", acks_late=True, ignore_result=True)
def score_version(version_id: int) -> None:
    """A registered version (a base model) scored on the evaluation suites (routed to the `tuning` queue)."""
    from inference.evaluation import version_score_by_id

    version_score_by_id(version_id=version_id)


@shared_task(name="inference.explain_bank", bind=True, acks_late=True, ignore_result=True)
def explain_bank(self, version_name: str) -> None:
    """Explain the bank with a newly promoted version once a model server serves it. While none does
    (it is starting, or switching to the version) the task comes back every EXPLAIN_RETRY_SECONDS for
    EXPLAIN_WAIT_SECONDS, holding no worker meanwhile; the sweep (explain_missing) does the rest."""
    from django.conf import settings

    from inference.explanations import VersionNotServed, bank_explain_when_served

    try:
        bank_explain_when_served(version_name=version_name)
    except VersionNotServed as exc:
        tries = max(1, int(settings.EXPLAIN_WAIT_SECONDS // settings.EXPLAIN_RETRY_SECONDS))
        if self.request.retries >= tries:
            logger.warning("%s after %s tries: the explanations sweep takes over", exc.message, tries)
            return
        raise self.retry(exc=exc, countdown=settings.EXPLAIN_RETRY_SECONDS, max_retries=tries) from exc


@shared_task(name="inference.explain_missing", ignore_result=True)
def explain_missing() -> None:
    """The explanations sweep: what the active version has not explained yet (failed, never asked, new
    in the bank), when a model server serves it."""
    from inference.explanations import bank_explain_missing

    bank_explain_missing()


@shared_task(name="inference.grade_pending", ignore_result=True)
def grade_pending() -> None:
    """Queue again what waits for a model grade too long, when a model server is up to grade it."""
    from django.conf import settings

    from inference.engines import get_engine
    from inference.grading import answers_awaiting_model_grade

    if not any(get_engine().health().values()):
        return  # the queued tasks are still retrying; adding more would only pile up
    for answer_id in answers_awaiting_model_grade(older_than_seconds=settings.GRADING_SWEEP_EVERY_SECONDS):
        grade_answer.delay(answer_id)
