"""Work for the model a student can cause: practising the wrong-answer book makes a paper whose essays the
model grades, and so does each attempt at a paper allowing any number. New practice papers and new such
attempts are limited per user (THROTTLE_RATES wrong_book_practice, attempt); resuming an unfinished one
is not, and asking for practice while one is unfinished resumes it."""

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from core.throttling import throttled_message
from quizbank.models import Paper, QuizSession, WrongBookEntry
from quizbank.services import session_finish

pytestmark = pytest.mark.django_db


@pytest.fixture
def mistakes(settings, alice, bob, demo_bank):
    settings.THROTTLE_RATES = {"wrong_book_practice": "2/h"}
    now = timezone.now()
    for user in (alice, bob):
        for question in demo_bank[:3]:
            WrongBookEntry.objects.create(
                user=user, question=question, times_wrong=1, first_wrong_at=now, last_wrong_at=now
            )


def api_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_the_api_resumes_the_open_practice_and_limits_new_papers(alice, bob, mistakes):
    client = api_for(alice)
    url = reverse("api-v1-wrong-book-practice")
    first = client.post(url)
    assert first.status_code == 201
    again = [client.post(url) for _ in range(3)]  # resuming makes no paper and is not counted
    assert [(r.status_code, r.json()["id"]) for r in again] == [(200, first.json()["id"])] * 3
    assert Paper.objects.filter(owner=alice).count() == 1

    session_finish(user=alice, session_id=first.json()["id"])
    second = client.post(url)
    assert second.status_code == 201 and second.json()["id"] != first.json()["id"]
    session_finish(user=alice, session_id=second.json()["id"])
    refused = client.post(url)
    assert refused.status_code == 429 and 1 <= int(refused["Retry-After"]) <= 3600
    assert refused["Retry-After"] in refused.json()["message"]
    assert Paper.objects.filter(owner=alice).count() == 2 and QuizSession.objects.filter(user=alice).count() == 2
    assert api_for(bob).post(url).status_code == 201  # per user


def test_the_practice_form_resumes_and_limits_new_papers_with_a_message(client, alice, mistakes):
    client.force_login(alice)
    url = reverse("wrong-book-practice")
    for _ in range(2):
        started = client.post(url)
        assert started.status_code == 302
        practice = QuizSession.objects.get(user=alice, state="in_progress")
        assert started["Location"] == reverse("session-take", args=[practice.pk])
        assert client.post(url)["Location"] == started["Location"]  # resumed
        session_finish(user=alice, session_id=practice.pk)
    refused = client.post(url)
    assert refused.status_code == 429
    messages = [str(message) for message in refused.context["messages"]]
    assert any(messages == [throttled_message(wait)] for wait in range(1, 3601))
    assert messages[0] in refused.content.decode()
    assert Paper.objects.filter(owner=alice).count() == 2


def test_the_rate_has_a_default(settings):
    from core.throttling import rate_parse

    for scope in ("wrong_book_practice", "attempt"):
        count, period = rate_parse(settings.THROTTLE_RATES[scope])
        assert count >= 1 and period >= 3600


@pytest.fixture
def essay_practice(settings, carol):
    """A practice paper with an essay and any number of attempts: each finished attempt queues model grading."""
    from decimal import Decimal

    from quizbank.services import paper_create, question_create

    settings.THROTTLE_RATES = {"attempt": "2/h"}
    essay = question_create(
        data={"subject": "语文/写作", "qtype": "essay", "stem": "写一段话。", "answer": "要点", "score": Decimal(10)}
    )
    return paper_create(title="作文练习", questions=[essay], created_by=carol, mode="practice", attempts_allowed=0)


def test_new_attempts_at_an_unlimited_paper_are_limited_per_user_but_resuming_is_not(alice, bob, essay_practice):
    client = api_for(alice)
    url = reverse("api-v1-paper-sessions", args=[essay_practice.pk])
    for _ in range(2):
        started = client.post(url)
        assert started.status_code == 201
        assert [client.post(url).status_code for _ in range(3)] == [200] * 3  # resumed, not counted
        session_finish(user=alice, session_id=started.json()["id"])
    refused = client.post(url)
    assert refused.status_code == 429 and refused["Retry-After"] in refused.json()["message"]
    assert QuizSession.objects.filter(user=alice, paper=essay_practice).count() == 2
    assert api_for(bob).post(url).status_code == 201


def test_the_start_button_says_why_it_refused_a_new_attempt(client, alice, essay_practice):
    client.force_login(alice)
    url = reverse("exam-start", args=[essay_practice.pk])
    for _ in range(2):
        assert client.post(url).status_code == 302
        session_finish(user=alice, session_id=QuizSession.objects.get(user=alice, state="in_progress").pk)
    refused = client.post(url, follow=True)
    messages = [str(message) for message in refused.context["messages"]]
    assert any(messages == [throttled_message(wait)] for wait in range(1, 3601))
    assert messages[0] in refused.content.decode()
    assert QuizSession.objects.filter(user=alice, paper=essay_practice).count() == 2


def test_attempts_at_a_paper_with_a_set_number_are_not_limited(settings, alice, essay_practice):
    from quizbank.models import Paper

    Paper.objects.filter(pk=essay_practice.pk).update(attempts_allowed=5)
    client = api_for(alice)
    url = reverse("api-v1-paper-sessions", args=[essay_practice.pk])
    for _ in range(5):
        started = client.post(url)
        assert started.status_code == 201
        session_finish(user=alice, session_id=started.json()["id"])
