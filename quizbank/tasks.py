from celery import shared_task


@shared_task(name="quizbank.run_import", acks_late=True, ignore_result=True)
def run_import(job_id: int) -> None:
    from quizbank.services import import_job_run

    import_job_run(job_id=job_id)
