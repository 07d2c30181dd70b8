"""The exam autosave's one-statement path, for the save that matters on exam day: a later response to a
question already answered, in an exam on PostgreSQL.

What a save needs to know of its item (the question version, its points, the paper's grading policy)
does not change while the session is open, so it is kept in this process for a short while after the
first save of the item. What does change is checked by the database in the same statement that writes:
the session is the student's, still in progress and before its deadline (its row locked as the full path
locks it, so a save and a finish are still serialised), and the save is not older than the stored one.
Whenever that statement writes nothing, or the facts are not known here, the full path
(sessions.session_answer_save) decides, with the same rules and errors."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import connection

from quizbank.grading import MultipleChoicePolicy
from quizbank.models import Answer, Navigation, PaperMode, Question, QuizSession, SessionState
from quizbank.services.answers import answer_fields, answer_length_check

FACTS_SECONDS = 30.0
FACTS_LIMIT = 20_000


@dataclass(frozen=True)
class ItemFacts:
    session: QuizSession  # as first read: its paper's settings, not its state
    item_id: int
    question: Question
    score: Decimal
    policy: MultipleChoicePolicy
    until: float


_facts: dict[tuple[int, int, int], ItemFacts] = {}
_lock = threading.Lock()


def item_facts_keep(*, session: QuizSession, item_id: int, position: int, question: Question, score: Decimal) -> None:
    """Remember an item after a full save, where the one-statement path may take its next saves: an
    exam answered in any order, on PostgreSQL."""
    paper = session.paper
    if connection.vendor != "postgresql" or paper.mode != PaperMode.EXAM or paper.navigation == Navigation.SEQUENTIAL:
        return
    facts = ItemFacts(
        session=session,
        item_id=item_id,
        question=question,
        score=score,
        policy=paper.multiple_choice_policy,  # type: ignore[arg-type]
        until=time.monotonic() + FACTS_SECONDS,
    )
    with _lock:
        if len(_facts) >= FACTS_LIMIT:
            _facts.clear()
        _facts[(session.pk, position, session.user_id)] = facts


def _known(session_id: int, position: int, user_id: int) -> ItemFacts | None:
    with _lock:
        facts = _facts.get((session_id, position, user_id))
        if facts is not None and facts.until <= time.monotonic():
            del _facts[(session_id, position, user_id)]
            return None
    return facts


_answer_table, _session_table = Answer._meta.db_table, QuizSession._meta.db_table
_WRITTEN = ("response", "response_data", "client_seq", "is_correct", "score", "max_score", "grade_status",
            "grade_detail", "updated_at")  # fmt: skip
_FIELDS = {field.name: field for field in Answer._meta.concrete_fields}
# Table and column names from the models; every value a parameter.
SAVE_SQL = f"""
WITH open_session AS (
    SELECT id FROM {_session_table}
    WHERE id = %s AND user_id = %s AND state = %s AND (deadline IS NULL OR deadline > %s)
    FOR NO KEY UPDATE
)
UPDATE {_answer_table} AS answer SET {", ".join(f"{column} = %s" for column in _WRITTEN)}
FROM open_session
WHERE answer.session_id = open_session.id AND answer.item_id = %s AND (%s = 0 OR answer.client_seq <= %s)
RETURNING answer.id
"""  # noqa: S608


def answer_save_at_once(
    *, user_id: int, session_id: int, position: int, response: Any, client_seq: int, now: datetime
) -> Answer | None:
    """The saved answer, or None where the full path must decide (nothing known here, nothing written:
    a first save, a stale client_seq, a session that is over). Raises what the full path raises for a
    response the question cannot take."""
    facts = _known(session_id, position, user_id)
    if facts is None:
        return None
    answer_length_check(response, position=position)
    fields = answer_fields(facts.question, response, policy=facts.policy, max_score=facts.score, position=position)
    fields["client_seq"], fields["updated_at"] = client_seq, now
    values = [_FIELDS[name].get_db_prep_save(fields[name], connection) for name in _WRITTEN]
    with connection.cursor() as cursor:
        cursor.execute(
            SAVE_SQL,
            [session_id, user_id, SessionState.IN_PROGRESS, now, *values, facts.item_id, client_seq, client_seq],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    answer = Answer(pk=row[0], user_id=user_id, question=facts.question, item_id=facts.item_id, **fields)
    answer.session = facts.session
    return answer
