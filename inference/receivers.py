"""Work the model does when the bank or tuning announces something: queued, never done inline."""

from django.conf import settings
from django.dispatch import receiver

from quizbank.signals import answers_need_grading
from tuning.signals import version_promoted


@receiver(answers_need_grading, dispatch_uid="inference-grade-answers")
def grade_answers_with_model(sender, answer_ids, **kwargs) -> None:
    if not settings.MODEL_TASKS_ON_EVENTS:
        return
    from inference.tasks import grade_answer

    for answer_id in answer_ids:
        grade_answer.delay(answer_id)


@receiver(version_promoted, dispatch_uid="inference-explain-bank")
def explain_bank_with_new_version(sender, version_name, **kwargs) -> None:
    if not settings.MODEL_TASKS_ON_EVENTS:
        return
    from inference.tasks import explain_bank

    explain_bank.delay(version_name)
