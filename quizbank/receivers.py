"""The bank's own handlers of what its services announce: queued work goes to the workers (services send a
signal rather than import the tasks that call them)."""

from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver

from quizbank.middleware import MUST_CHOOSE_KEY
from quizbank.selectors.classes import must_change_password
from quizbank.signals import import_job_queued
from quizbank.tasks import run_import


@receiver(import_job_queued, dispatch_uid="quizbank-run-import")
def import_job_send(sender: type, job_id: int, **kwargs: object) -> None:
    run_import.delay(job_id)


@receiver(user_logged_in, dispatch_uid="quizbank-one-time-password")
def one_time_password_noted(sender: type, request, user, **kwargs: object) -> None:
    """A student signing in with a one-time password is sent to choose their own (FirstPasswordMiddleware)."""
    if request is not None and hasattr(request, "session") and must_change_password(user=user):
        request.session[MUST_CHOOSE_KEY] = True
