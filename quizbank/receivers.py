"""The bank's own handlers of what its services announce: queued work goes to the workers (services send a
signal rather than import the tasks that call them)."""

from django.contrib.auth.signals import user_logged_in
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from quizbank.middleware import MUST_CHOOSE_KEY
from quizbank.models import Paper, PaperAssignment, PaperQuestion
from quizbank.selectors.access import paper_assignments_forget
from quizbank.selectors.classes import must_change_password
from quizbank.selectors.papers import fixed_paper_slots_forget
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


@receiver(post_save, sender=PaperQuestion, dispatch_uid="quizbank-slots-saved")
@receiver(post_delete, sender=PaperQuestion, dispatch_uid="quizbank-slots-deleted")
def paper_slots_changed(sender: type, instance: PaperQuestion, **kwargs: object) -> None:
    """A fixed paper's questions changed (the admin site): its next start reads them again."""
    fixed_paper_slots_forget(paper_id=instance.paper_id)


@receiver(post_save, sender=PaperAssignment, dispatch_uid="quizbank-assignments-saved")
@receiver(post_delete, sender=PaperAssignment, dispatch_uid="quizbank-assignments-deleted")
def paper_assignments_changed(sender: type, instance: PaperAssignment, **kwargs: object) -> None:
    """A paper was assigned, re-timed or taken back: its next start or review reads its assignments again."""
    paper_assignments_forget(paper_id=instance.paper_id)


@receiver(post_save, sender=Paper, dispatch_uid="quizbank-paper-saved")
@receiver(post_delete, sender=Paper, dispatch_uid="quizbank-paper-deleted")
def paper_changed(sender: type, instance: Paper, **kwargs: object) -> None:
    """A paper made, edited or deleted: nothing remembered under its id is used again. (SQLite gives a
    new paper the id of the newest one deleted; its questions are written in bulk, without signals.)"""
    fixed_paper_slots_forget(paper_id=instance.pk)
    paper_assignments_forget(paper_id=instance.pk)
