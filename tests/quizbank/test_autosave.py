"""The exam autosave's one-statement path (quizbank.services.autosave): a later save of an answered
exam item is one statement on PostgreSQL, and every rule of the full path still holds: the deadline,
client_seq order, the session's owner and state, a response the question cannot take."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from functools import partial

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from quizbank.models import Answer
from quizbank.services import paper_create, session_answer_save, session_finish, session_start
from tests.quizbank.test_sessions import every_type, refused, timed_paper

pytestmark = pytest.mark.django_db


@pytest.fixture
def bank(db):
    return every_type()


@pytest.fixture
def now():
    return timezone.now()


def save(user, session, position, response, **kwargs):
    return session_answer_save(user=user, session_id=session.pk, position=position, response=response, **kwargs)


def stored(session, position):
    answer = Answer.objects.get(session=session, item__position=position)
    return answer.response_data, answer.client_seq, answer.is_correct, answer.score


def statements(call):
    with CaptureQueriesContext(connection) as queries:
        result = call()
    return result, len(queries)


def test_a_later_save_is_one_statement_and_stored_graded_as_the_full_path_would(alice, bank, now):
    session = session_start(user=alice, paper=timed_paper(bank), now=now)
    position = session.items.get(question=bank["single"]).position
    _, first = statements(lambda: save(alice, session, position, "A", client_seq=1, now=now))
    saved, later = statements(lambda: save(alice, session, position, "B", client_seq=2, now=now))
    assert first > 1
    if connection.vendor == "postgresql":
        assert later == 1  # elsewhere (SQLite) the full path takes every save
    assert (saved.client_seq, saved.session.pk) == (2, session.pk)
    assert stored(session, position) == ("B", 2, True, Decimal("2.00"))  # B is the key
    save(alice, session, position, "C", client_seq=3, now=now)
    assert stored(session, position) == ("C", 3, False, Decimal("0.00"))


def test_an_older_save_arriving_late_changes_nothing(alice, bank, now):
    session = session_start(user=alice, paper=timed_paper(bank), now=now)
    position = session.items.get(question=bank["single"]).position
    save(alice, session, position, "A", client_seq=5, now=now)
    save(alice, session, position, "B", client_seq=6, now=now)
    late = save(alice, session, position, "C", client_seq=4, now=now)
    assert late.client_seq == 6
    assert stored(session, position)[:2] == ("B", 6)


def test_no_save_after_the_deadline_or_the_finish_even_for_an_item_saved_before(alice, bank, now):
    session = session_start(user=alice, paper=timed_paper(bank, overdue_rule="autosubmit"), now=now)
    position = session.items.get(question=bank["single"]).position
    save(alice, session, position, "A", client_seq=1, now=now)
    with refused("time_up"):
        save(alice, session, position, "B", client_seq=2, now=now + timedelta(seconds=600))
    assert stored(session, position)[:2] == ("A", 1)

    again = session_start(user=alice, paper=timed_paper(bank), now=now)
    save(alice, again, position, "A", client_seq=1, now=now)
    session_finish(user=alice, session_id=again.pk, now=now)
    with refused("not_open"):
        save(alice, again, position, "B", client_seq=2, now=now)
    assert stored(again, position)[:2] == ("A", 1)


def test_another_students_save_to_the_same_session_is_refused(alice, bob, bank, now):
    session = session_start(user=alice, paper=timed_paper(bank), now=now)
    position = session.items.get(question=bank["single"]).position
    save(alice, session, position, "A", client_seq=1, now=now)
    with refused("not_found"):
        save(bob, session, position, "B", client_seq=2, now=now)
    assert stored(session, position)[:2] == ("A", 1)


def test_a_response_the_question_cannot_take_is_refused_by_field(alice, bank, now):
    session = session_start(user=alice, paper=timed_paper(bank), now=now)
    position = session.items.get(question=bank["single"]).position
    save(alice, session, position, "A", client_seq=1, now=now)
    with pytest.raises(Exception) as error:
        save(alice, session, position, "Z", client_seq=2, now=now)
    assert error.value.extra == {"field": "response", "position": position}
    assert stored(session, position)[:2] == ("A", 1)


def test_a_first_save_is_one_statement_once_the_session_is_known_and_stores_what_the_full_path_does(
    alice, bob, bank, now, monkeypatch
):
    paper = paper_create(title="每题一次", questions=[bank["single"], bank["short"], bank["fill"]])
    responses = {bank["single"].pk: "B", bank["short"].pk: "光合作用"}

    def answer_all(user):
        session = session_start(user=user, paper=paper, now=now)
        counts = []
        for seq, item in enumerate(session.items.filter(question_id__in=responses).order_by("position"), start=1):
            position, response = item.position, responses[item.question_id]
            _, count = statements(partial(save, user, session, position, response, client_seq=seq, now=now))
            counts.append(count)
        return session, counts

    session, counts = answer_all(alice)
    if connection.vendor == "postgresql":
        assert counts == [2, 1]  # the session's items are read once, then each save is one statement
    # the same answers by the full path only, for another student
    monkeypatch.setattr("quizbank.services.sessions.answer_save_at_once", lambda **_: None)
    other, _ = answer_all(bob)
    compared = ("response", "response_data", "client_seq", "is_correct", "score", "max_score", "grade_status",
                "grade_detail", "explanation_source", "explanation", "feedback", "grading_attempts",
                "original_status", "question_id", "item__position")  # fmt: skip
    mine = list(Answer.objects.filter(session=session).order_by("item__position").values(*compared))
    theirs = list(Answer.objects.filter(session=other).order_by("item__position").values(*compared))
    assert len(mine) == 2 and mine == theirs
