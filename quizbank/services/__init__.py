"""Writes to the question bank, one module per concern."""

from quizbank.services.answers import answer_submit, paper_create
from quizbank.services.imports import (
    ImportReport,
    bank_import,
    bank_import_file,
    import_job_create,
    import_job_run,
    subject_get_or_create,
)
from quizbank.services.questions import question_create, question_update

__all__ = [
    "ImportReport",
    "answer_submit",
    "bank_import",
    "bank_import_file",
    "grade_objective",
    "import_job_create",
    "import_job_run",
    "paper_create",
    "question_create",
    "question_update",
    "subject_get_or_create",
]
