"""Writes to the question bank, one module per concern."""

from quizbank.services.answers import answer_submit
from quizbank.services.imports import (
    ImportReport,
    bank_import,
    bank_import_file,
    import_job_create,
    import_job_create_from_text,
    import_job_run,
    subject_get_or_create,
)
from quizbank.services.papers import RuleSpec, paper_create, paper_create_random, paper_update
from quizbank.services.practice import wrong_book_practice_start
from quizbank.services.questions import question_create, question_update
from quizbank.services.sessions import (
    answer_grade,
    session_advance,
    session_answer_save,
    session_answers_save,
    session_expire_if_due,
    session_finish,
    session_start,
    sessions_sweep,
)
from quizbank.services.wrongbook import wrong_book_practice_create, wrong_book_record

__all__ = [
    "ImportReport",
    "RuleSpec",
    "answer_grade",
    "answer_submit",
    "bank_import",
    "bank_import_file",
    "import_job_create",
    "import_job_create_from_text",
    "import_job_run",
    "paper_create",
    "paper_create_random",
    "paper_update",
    "question_create",
    "question_update",
    "session_advance",
    "session_answer_save",
    "session_answers_save",
    "session_expire_if_due",
    "session_finish",
    "session_start",
    "sessions_sweep",
    "subject_get_or_create",
    "wrong_book_practice_create",
    "wrong_book_practice_start",
    "wrong_book_record",
]
