"""The exam autosave's one-statement path, for the saves that make up an exam day: every answer to an
exam on PostgreSQL, the first one to a question included.

What a save needs to know of its item (the question version, its points, the paper's grading policy)
does not change while the session is open, so this process reads it for every item of the session at
once, on the session's first save here, and keeps it for a short while. What does change is checked by
the database in the same statement that writes: the session is the student's, still in progress and
before its deadline (its row locked as the full path locks it, so a save and a finish are still
serialised), and the save is not older than the stored one. The statement inserts the item's answer
or, when there is one, updates it (the item's unique answer). Whenever it writes nothing, or the session
is not one this path takes (practice, sequential navigation, another student's), the full path
(sessions.session_answer_save) decides, with the same rules and errors."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import Any

from django.db import connection

from core.recent import Recent
from quizbank.grading import MultipleChoicePolicy
from quizbank.models import Answer, Navigation, PaperMode, Question, QuizSession, SessionItem, SessionState
from quizbank.services.answers import answer_fields, answer_length_check

FACTS_SECONDS = 30.0
FACTS_LIMIT = 5_000  # sessions


@dataclass(frozen=True)
class ItemFacts:
    item_id: int
    question: Question
    score: Decimal


@dataclass(frozen=True)
class SessionFacts:
    session: QuizSession  # as first read: its paper's settings, not its state
    policy: MultipleChoicePolicy
    items: dict[int, ItemFacts]  # by position


# (session, user) → its facts, or None: a session this path does not take (nor another student's).
_facts: Recent[SessionFacts | None] = Recent(seconds=FACTS_SECONDS, limit=FACTS_LIMIT)


def _takes(session: QuizSession) -> bool:
    paper = session.paper
    return paper.mode == PaperMode.EXAM and paper.navigation != Navigation.SEQUENTIAL


def _read(session_id: int, user_id: int) -> SessionFacts | None:
    """Every item of the session with its question and the paper, in one query; None where the session
    is not the user's or not one this path takes."""
    items = list(
        SessionItem.objects.filter(session_id=session_id, session__user_id=user_id)
        .select_related("question", "session__paper")
        .order_by()
    )
    if not items or not _takes(items[0].session):
        return None
    session = items[0].session
    return SessionFacts(
        session=session,
        policy=session.paper.multiple_choice_policy,  # type: ignore[arg-type]
        items={item.position: ItemFacts(item.pk, item.question, item.score) for item in items},
    )


def _known(session_id: int, user_id: int) -> SessionFacts | None:
    return _facts.read((session_id, user_id), lambda: _read(session_id, user_id))


def facts_forget() -> None:
    """Forget every session's facts (tests that change a paper's settings mid-session)."""
    _facts.forget()


_answer_table, _session_table = Answer._meta.db_table, QuizSession._meta.db_table
# What a save sets; every other column takes its model default, prepared once per process (below).
_SET_BY_SAVE = ("user", "question", "session", "item", "response", "response_data", "client_seq", "is_correct",
                "score", "max_score", "grade_status", "grade_detail", "submitted_at", "updated_at")  # fmt: skip
_CONCRETE = [field for field in Answer._meta.concrete_fields if not field.primary_key]
_FIELDS = [field for field in _CONCRETE if field.name in _SET_BY_SAVE]
_DEFAULTED = [field for field in _CONCRETE if field.name not in _SET_BY_SAVE]
_COLUMNS = [str(field.column) for field in (*_FIELDS, *_DEFAULTED)]


@cache
def _default_values() -> tuple[Any, ...]:
    """The columns a save leaves at their model defaults, as parameters: no default among them depends
    on the time or the row, so they are prepared once per process."""
    return tuple(field.get_db_prep_save(field.get_default(), connection) for field in _DEFAULTED)


# What a later save changes; submitted_at and the grading and explanation columns stay.
_WRITTEN = ("response", "response_data", "client_seq", "is_correct", "score", "max_score", "grade_status",
            "grade_detail", "updated_at")  # fmt: skip
# Table and column names from the models; every value a parameter.
SAVE_SQL = f"""
WITH open_session AS (
    SELECT id FROM {_session_table}
    WHERE id = %s AND user_id = %s AND state = %s AND (deadline IS NULL OR deadline > %s)
    FOR NO KEY UPDATE
)
INSERT INTO {_answer_table} AS answer ({", ".join(_COLUMNS)})
SELECT {", ".join(["%s"] * len(_COLUMNS))} FROM open_session
ON CONFLICT (item_id) DO UPDATE SET {", ".join(f"{column} = EXCLUDED.{column}" for column in _WRITTEN)}
WHERE EXCLUDED.client_seq = 0 OR answer.client_seq <= EXCLUDED.client_seq
RETURNING answer.id
"""  # noqa: S608


def answer_save_at_once(
    *, user_id: int, session_id: int, position: int, response: Any, client_seq: int, now: datetime
) -> Answer | None:
    """The saved answer, or None where the full path must decide (not PostgreSQL, a session this path
    does not take, nothing written: a stale client_seq, a session that is over). Raises what the full
    path raises for a response the question cannot take."""
    if connection.vendor != "postgresql":
        return None
    facts = _known(session_id, user_id)
    item = facts.items.get(position) if facts is not None else None
    if facts is None or item is None:
        return None
    answer_length_check(response, position=position)
    fields = answer_fields(item.question, response, policy=facts.policy, max_score=item.score, position=position)
    answer = Answer(
        user_id=user_id, question=item.question, session_id=session_id, item_id=item.item_id,
        client_seq=client_seq, submitted_at=now, updated_at=now, **fields,
    )  # fmt: skip
    # auto_now and auto_now_add take `now` here too: pre_save is not called, the values are the model's
    values = [field.get_db_prep_save(getattr(answer, field.attname), connection) for field in _FIELDS]
    with connection.cursor() as cursor:
        cursor.execute(SAVE_SQL, [session_id, user_id, SessionState.IN_PROGRESS, now, *values, *_default_values()])
        row = cursor.fetchone()
    if row is None:
        return None
    answer.pk = row[0]
    answer.session = facts.session
    return answer
