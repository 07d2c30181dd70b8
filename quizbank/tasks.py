from celery import shared_task


@shared_task(name="quizbank.run_import", acks_late=True, ignore_result=True)
def run_import(job_id: int) -> None:
    from quizbank.services import import_job_run

    import_job_run(job_id=job_id)


@shared_task(name="quizbank.sweep_import_files", ignore_result=True)
def sweep_import_files() -> int:
    """Delete uploaded import files a finished job did not (a lost worker, a failed request)."""
    from quizbank.services.imports import import_files_sweep

    return import_files_sweep()


@shared_task(name="quizbank.sweep_sessions", ignore_result=True)
def sweep_sessions() -> int:
    """Finish (or abandon, by the paper's rule) every session whose time is up."""
    from quizbank.services import sessions_sweep

    return sessions_sweep()
