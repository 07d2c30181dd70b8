"""The bank's own handlers of what its services announce: queued work goes to the workers (services send a
signal rather than import the tasks that call them)."""

from django.dispatch import receiver

from quizbank.signals import import_job_queued
from quizbank.tasks import run_import


@receiver(import_job_queued, dispatch_uid="quizbank-run-import")
def import_job_send(sender: type, job_id: int, **kwargs: object) -> None:
    run_import.delay(job_id)
