from celery import shared_task


@shared_task(name="tuning.run_tuning", acks_late=True, ignore_result=True)
def run_tuning(run_id: int) -> None:
    from tuning.services import run_execute

    run_execute(run_id=run_id)


@shared_task(name="tuning.recover_stale_runs", ignore_result=True)
def recover_stale_runs() -> None:
    from tuning.services import runs_recover_stale

    runs_recover_stale()


@shared_task(name="tuning.retrain_if_due", ignore_result=True)
def retrain_if_due(min_new_questions: int | None = None, min_new_grades: int | None = None) -> None:
    """The thresholds are the periodic task's kwargs, which admins edit on the admin site."""
    from tuning.services import retrain_if_due as retrain

    retrain(min_new_questions=min_new_questions, min_new_grades=min_new_grades)
