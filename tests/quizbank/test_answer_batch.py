"""Several autosaves in one request (PUT /api/v1/sessions/<id>/answers), as the exam page sends every
answer changed in the last moment: each answer keeps the guarantees of a save of its own (client_seq
order, its own refusal), and a refusal of the attempt refuses the request."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from quizbank.models import Answer, QuizSession
from quizbank.services import paper_create
from tests.quizbank.test_exam_api import api, save, start, wrong_option

pytestmark = pytest.mark.django_db


@pytest.fixture
def exam(demo_bank, carol):
    return paper_create(title="期中考试", questions=demo_bank[:3], created_by=carol, time_limit_seconds=600)


def batch(client, session_id, answers):
    return client.put(reverse("api-v1-session-answers", args=[session_id]), {"answers": answers}, format="json")


def stored(session_id):
    rows = Answer.objects.filter(session_id=session_id).values_list("item__position", "response_data", "client_seq")
    return {position: (response, seq) for position, response, seq in rows}


def keys(session):
    return {item["position"]: [option["key"] for option in item["options"]] for item in session["items"]}


def test_one_request_saves_every_answer_sent_with_its_client_seq(alice, exam):
    client = api(alice)
    session = start(client, exam).json()
    options = keys(session)
    sent = [
        {"position": position, "response": options[position][0], "client_seq": 10 + position} for position in options
    ]
    reply = batch(client, session["id"], sent)
    assert reply.status_code == 200, reply.json()
    assert reply.json()["refused"] == []
    assert sorted((saved["position"], saved["client_seq"]) for saved in reply.json()["saved"]) == [
        (position, 10 + position) for position in sorted(options)
    ]
    assert stored(session["id"]) == {position: (options[position][0], 10 + position) for position in options}
    # the same guarantees as saves of their own: an older save arriving late changes nothing
    late = batch(client, session["id"], [{"position": 1, "response": options[1][1], "client_seq": 5}])
    assert late.json()["saved"] == [{"position": 1, "saved_at": late.json()["saved"][0]["saved_at"], "client_seq": 11}]
    assert stored(session["id"])[1] == (options[1][0], 11)


def test_a_position_sent_twice_keeps_the_newer_save_in_either_order(alice, exam):
    client = api(alice)
    session = start(client, exam).json()
    a, b = keys(session)[2][:2]
    batch(
        client,
        session["id"],
        [{"position": 2, "response": a, "client_seq": 3}, {"position": 2, "response": b, "client_seq": 2}],
    )
    assert stored(session["id"])[2] == (a, 3)
    batch(
        client,
        session["id"],
        [{"position": 2, "response": b, "client_seq": 4}, {"position": 2, "response": a, "client_seq": 5}],
    )
    assert stored(session["id"])[2] == (a, 5)


def test_an_answer_refused_on_its_own_leaves_the_others_saved(alice, exam):
    client = api(alice)
    session = start(client, exam).json()
    options = keys(session)
    reply = batch(
        client,
        session["id"],
        [
            {"position": 1, "response": options[1][0], "client_seq": 1},
            {"position": 2, "response": "Z", "client_seq": 2},  # no such option
            {"position": 9, "response": "A", "client_seq": 3},  # no such question
            {"position": 3, "response": options[3][1], "client_seq": 4},
        ],
    )
    assert reply.status_code == 200
    body = reply.json()
    assert [saved["position"] for saved in body["saved"]] == [1, 3]
    assert [(refused["position"], refused["extra"].get("field")) for refused in body["refused"]] == [
        (2, "response"),
        (9, "position"),
    ]
    assert stored(session["id"]) == {1: (options[1][0], 1), 3: (options[3][1], 4)}


def test_the_attempt_refusing_answers_refuses_the_request_and_saves_nothing(alice, bob, exam):
    client = api(alice)
    session = start(client, exam).json()
    options = keys(session)
    answers = [{"position": position, "response": options[position][0], "client_seq": 1} for position in options]
    assert batch(api(bob), session["id"], answers).status_code == 404
    QuizSession.objects.filter(pk=session["id"]).update(deadline=timezone.now() - timedelta(seconds=1))
    late = batch(client, session["id"], answers)
    assert (late.status_code, late.json()["extra"]["code"]) == (409, "time_up")
    # nothing of the request is stored (the overdue rule submitted the attempt: its empty answers)
    assert {response for response, _ in stored(session["id"]).values()} <= {None}


def test_a_finished_attempt_refuses_the_request(alice, exam, demo_bank):
    client = api(alice)
    session = start(client, exam).json()
    save(client, session["id"], 1, wrong_option(demo_bank[0]), client_seq=1)
    client.post(reverse("api-v1-session-finish", args=[session["id"]]))
    refused = batch(client, session["id"], [{"position": 2, "response": "A", "client_seq": 2}])
    assert (refused.status_code, refused.json()["extra"]["code"]) == (409, "not_open")


def test_a_batch_must_hold_answers_and_not_more_than_the_limit(alice, exam):
    client = api(alice)
    session = start(client, exam).json()
    assert batch(client, session["id"], []).status_code == 400
    too_many = [{"position": 1, "response": "A", "client_seq": seq} for seq in range(201)]
    assert batch(client, session["id"], too_many).status_code == 400
    assert stored(session["id"]) == {}
