from celery import shared_task


@shared_task(name="tuning.run_tuning", acks_late=True, ignore_result=True)
def run_tuning(run_id: int) -> None:
    from tuning.services import run_execute

    run_execute(run_id=run_id)
