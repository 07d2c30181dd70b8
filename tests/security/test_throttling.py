"""Rate limits on the endpoints that call the model or start GPU work: per user, 429 with the
project's error shape and Retry-After; the exam's own saves are never limited."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from core.throttling import rate_parse, throttle_hit, throttled_message

TINY = {"explain": "2/min", "tuning": "2/min"}


def api_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def assert_throttled(response):
    assert response.status_code == 429, response.content[:300]
    wait = response["Retry-After"]
    assert 1 <= int(wait) <= 60
    assert wait in response.json()["message"]  # "Request was throttled. Expected available in 16 seconds."


def test_rates_are_read_as_count_per_period():
    assert rate_parse("30/min") == (30, 60) and rate_parse("5/h") == (5, 3600) and rate_parse("1/s") == (1, 1)


def test_a_counter_refuses_past_the_rate_with_the_wait(settings):
    settings.THROTTLE_RATES = {"explain": "3/min"}
    assert [throttle_hit(scope="explain", ident="someone") for _ in range(3)] == [None, None, None]
    wait = throttle_hit(scope="explain", ident="someone")
    assert wait is not None and 0 < wait <= 60
    assert throttle_hit(scope="explain", ident="someone-else") is None
    assert throttle_hit(scope="unknown", ident="someone") is None  # a scope without a rate is not limited


def test_practice_answers_are_limited_per_user(settings, alice, bob, demo_bank, no_model_server):
    settings.THROTTLE_RATES = TINY
    question = demo_bank[0]
    url = reverse("api-v1-question-answers", args=[question.pk])
    alices = api_for(alice)
    assert [alices.post(url, {"response": question.answer}, format="json").status_code for _ in range(2)] == [201, 201]
    assert_throttled(alices.post(url, {"response": question.answer}, format="json"))
    assert api_for(bob).post(url, {"response": question.answer}, format="json").status_code == 201


def test_the_explanation_stream_is_limited_per_user(settings, client, alice, bob, db):
    settings.THROTTLE_RATES = TINY
    url = reverse("api-v1-answer-explain-stream", args=[999_999])
    client.force_login(alice)
    assert [client.get(url).status_code for _ in range(2)] == [404, 404]
    refused = client.get(url)
    assert_throttled(refused)
    assert refused.json()["extra"]["code"] == "throttled"
    client.force_login(bob)
    assert client.get(url).status_code == 404


def test_creating_tuning_runs_is_limited_but_listing_them_is_not(settings, dave):
    settings.THROTTLE_RATES = TINY
    admin = api_for(dave)
    url = reverse("api-v1-tuning-runs")
    # Refused bodies count too: the limit is checked before the request is read.
    assert [admin.post(url, {"method": "nope"}, format="json").status_code for _ in range(2)] == [400, 400]
    assert_throttled(admin.post(url, {"method": "lora"}, format="json"))
    assert all(admin.get(url).status_code == 200 for _ in range(5))


def test_exam_saves_have_no_rate_limit(settings):
    assert not settings.REST_FRAMEWORK.get("DEFAULT_THROTTLE_CLASSES")
    assert set(settings.THROTTLE_RATES) >= {"explain", "tuning"}


@pytest.mark.parametrize("rate", ["30", "x/min", "3/fortnight"])
def test_a_bad_rate_is_refused(rate):
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured):
        rate_parse(rate)


def test_the_practice_form_shares_the_explanation_limit(settings, client, alice, demo_bank, no_model_server):
    from quizbank.models import Answer

    settings.THROTTLE_RATES = TINY
    question = demo_bank[0]
    url = reverse("practice-question", args=[question.pk])
    client.force_login(alice)
    assert [client.post(url, {"response": question.answer}).status_code for _ in range(2)] == [302, 302]
    refused = client.post(url, {"response": question.answer})
    assert refused.status_code == 429
    wait = int(refused.context["messages"]._loaded_messages[0].message.split()[-2])  # "… 预计 N 秒后可用。"
    assert [str(message) for message in refused.context["messages"]] == [throttled_message(wait)]
    assert Answer.objects.filter(user=alice, question=question).count() == 2  # the refused one is not stored
