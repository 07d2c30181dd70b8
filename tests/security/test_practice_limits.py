"""Practising the wrong-answer book makes a paper whose essays the model grades: new papers are limited
per user (THROTTLE_RATES wrong_book_practice), and asking again while one is unfinished resumes it."""

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from quizbank.models import Paper, QuizSession, WrongBookEntry
from quizbank.services import session_finish
from quizsite.throttling import throttled_message

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
    from quizsite.throttling import rate_parse

    count, period = rate_parse(settings.THROTTLE_RATES["wrong_book_practice"])
    assert count >= 1 and period >= 3600
