"""错题本: the questions each student got wrong, until mastered by answering right in practice."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.utils import timezone

from core.exceptions import ApplicationError
from quizbank.models import UNGRADED, Answer, Paper, PaperMode, QuizSession, WrongBookEntry
from quizbank.selectors.exams import locked_question_ids
from quizbank.services.papers import paper_create

_entry_table, _answer_table = WrongBookEntry._meta.db_table, Answer._meta.db_table
# Each question answered wrong (graded, not left empty) among the answers chosen is added to its
# student's book, or counted again: one statement, on PostgreSQL and SQLite alike, for one answer or a
# whole finished exam. Table names from the models, values parameters.
WRONG_SQL = f"""
INSERT INTO {_entry_table} AS entry
    (user_id, question_id, times_wrong, right_streak, first_wrong_at, last_wrong_at, last_response, mastered_at)
SELECT answer.user_id, answer.question_id, 1, 0, %s, %s, MAX(answer.response), NULL
FROM {_answer_table} AS answer
WHERE answer.{{column}} = %s AND answer.is_correct = %s AND answer.response <> ''
    AND answer.grade_status NOT IN ({", ".join(["%s"] * len(UNGRADED))})
GROUP BY answer.user_id, answer.question_id
ON CONFLICT (user_id, question_id) DO UPDATE SET
    times_wrong = entry.times_wrong + 1, last_wrong_at = excluded.last_wrong_at, right_streak = 0,
    mastered_at = NULL, last_response = excluded.last_response
"""  # noqa: S608


def _count_wrong(*, column: str, value: int, now: datetime) -> int:
    moment = WrongBookEntry._meta.get_field("last_wrong_at").get_db_prep_save(now, connection)
    with connection.cursor() as cursor:
        cursor.execute(WRONG_SQL.format(column=column), [moment, moment, value, False, *UNGRADED])
        return cursor.rowcount


@transaction.atomic
def wrong_book_record(*, answer: Answer, practice: bool, now: datetime | None = None) -> None:
    """Count a stored, graded answer: a wrong one adds to the book; a right one in practice extends the
    streak that marks an entry mastered after WRONG_BOOK_MASTERED_AFTER right answers in a row."""
    now = now or timezone.now()
    if answer.is_correct is None:
        return
    if not answer.is_correct:
        _count_wrong(column="id", value=answer.pk, now=now)
        return
    if not practice:
        return
    entry = (
        WrongBookEntry.objects.select_for_update()
        .filter(user_id=answer.user_id, question_id=answer.question_id)
        .first()
    )
    if entry is None or entry.mastered_at:
        return
    entry.right_streak += 1
    if entry.right_streak >= settings.WRONG_BOOK_MASTERED_AFTER:
        entry.mastered_at = now
    entry.save(update_fields=["right_streak", "mastered_at"])


def wrong_book_record_session(*, session: QuizSession, now: datetime | None = None) -> int:
    """`wrong_book_record` for every answer of a finished exam, in one statement; returns how many
    questions it counted."""
    return _count_wrong(column="session_id", value=session.pk, now=now or timezone.now())


@transaction.atomic
def wrong_book_practice_create(*, user: User, limit: int = 20, now: datetime | None = None) -> Paper:
    """ "Practise my wrong answers": a personal practice paper of the student's unmastered mistakes,
    most recent first, with feedback after each question. Questions of which a version is on an exam not
    closed yet are left out: practice shows the key, and classmates may still be answering them."""
    now = now or timezone.now()
    entries = (
        WrongBookEntry.objects.filter(user=user, mastered_at__isnull=True)
        .select_related("question")
        .order_by("-last_wrong_at", "-id")
    )
    questions = []
    locked = 0
    # The same lock as checking a practice answer: no version of the question on an exam still open.
    locked_ids = locked_question_ids(now=now, user=user)
    for entry in entries.iterator():
        if entry.question_id in locked_ids:
            locked += 1
            continue
        questions.append(entry.question)
        if len(questions) >= limit:
            break
    if not questions:
        if locked:
            raise ApplicationError(
                "your mistakes are on exams that are still open: practise them after the exams close",
                extra={"code": "empty", "locked": locked},
            )
        raise ApplicationError("your wrong-answer book is empty", extra={"code": "empty"})
    return paper_create(
        title=f"错题练习 · {timezone.localtime(now):%Y-%m-%d %H:%M}",
        questions=questions,
        owner=user,
        created_by=user,
        mode=PaperMode.PRACTICE,
        attempts_allowed=1,
        review_score="immediately",
        review_correctness="immediately",
        review_answer="immediately",
        review_explanation="immediately",
    )
