"""Reads about imports: how far a running import has read."""

from __future__ import annotations

from quizbank.import_progress import progress_read
from quizbank.models import ImportJob, ImportStatus


def import_job_rows_read(*, job: ImportJob) -> int:
    """Rows read: while the job runs, the count its import keeps beside the upload (outside the
    import's transaction, quizbank/import_progress.py); once it ends, the count on the job."""
    if job.status == ImportStatus.RUNNING:
        return progress_read(job.file_path) or 0
    return job.rows_read
