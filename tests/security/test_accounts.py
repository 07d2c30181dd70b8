"""Accounts: password guessing is limited per username and address and per address, weak passwords are
refused, API tokens expire and are replaced when asked for again, and a sign-in ends with the browser."""

import time
from datetime import timedelta

import pytest
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from core.signin import SIGNIN_LOCKED, signin_refusal

pytestmark = pytest.mark.django_db

LAB = "10.1.1.1"  # the school's address
ELSEWHERE = "203.0.113.9"


@pytest.fixture(autouse=True)
def _small_limits(settings):
    settings.SIGNIN_LIMIT_PER_USER = 5
    settings.SIGNIN_LIMIT_PER_ADDRESS = 12
    settings.SIGNIN_WINDOW_SECONDS = 900


def token_for(username, password, address=LAB):
    return APIClient().post(
        reverse("api-v1-auth-token"), {"username": username, "password": password}, format="json", REMOTE_ADDR=address
    )


def login_page(client, username, password, address=LAB):
    return client.post(reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=address)


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def assert_locked_out(response, window=900):
    assert response.status_code == 429, response.content[:300]
    assert 1 <= int(response["Retry-After"]) <= window


# --- password guessing --------------------------------------------------------------------


def test_the_token_endpoint_locks_a_name_out_of_an_address_after_repeated_failures(alice):
    assert [token_for("alice", f"guess-{n}").status_code for n in range(5)] == [400] * 5
    refused = token_for("alice", "alice-pass-123")  # even the right password, from there, for now
    assert_locked_out(refused)
    body = refused.json()
    assert str(SIGNIN_LOCKED) in body["message"] and refused["Retry-After"] in body["message"]
    assert "token" not in body and not Token.objects.filter(user=alice).exists()
    # Not the name alone: alice signs in from elsewhere, and others from the lab.
    assert token_for("alice", "alice-pass-123", address=ELSEWHERE).status_code == 200


def test_the_login_page_locks_a_name_out_of_an_address_and_says_so(client, alice, bob):
    for n in range(5):
        page = login_page(client, "alice", f"guess-{n}")
        assert page.status_code == 200 and not signed_in(client)
    refused = login_page(client, "alice", "alice-pass-123")
    assert_locked_out(refused)
    assert not signed_in(client)
    page = refused.content.decode()
    assert signin_refusal(int(refused["Retry-After"])) in page and page.count('class="wrong"') == 1
    assert login_page(client, "bob", "bob-pass-123").status_code == 302  # another student at the same lab
    client.logout()
    assert login_page(client, "alice", "alice-pass-123", address=ELSEWHERE).status_code == 302


def test_failures_from_one_address_lock_that_address_whatever_the_names(client, alice):
    for n in range(12):
        assert token_for(f"student{n}", "guess").status_code == 400
    assert_locked_out(token_for("alice", "alice-pass-123"))
    assert_locked_out(login_page(client, "alice", "alice-pass-123"))
    assert token_for("alice", "alice-pass-123", address=ELSEWHERE).status_code == 200


def test_a_right_password_gives_back_the_attempts_so_a_class_can_sign_in_from_one_address(settings, alice):
    settings.SIGNIN_LIMIT_PER_ADDRESS = 50
    for _ in range(4):  # 4 typos, then the right password, again and again: never locked out
        assert [token_for("alice", "typo").status_code for _ in range(4)] == [400] * 4
        assert token_for("alice", "alice-pass-123").status_code == 200
    for _ in range(40):  # many successful sign-ins from one address use up no limit
        assert token_for("alice", "alice-pass-123").status_code == 200


def test_a_lockout_ends_when_its_window_does(settings, alice):
    settings.SIGNIN_WINDOW_SECONDS = 1
    assert [token_for("alice", "guess").status_code for _ in range(5)] == [400] * 5
    assert_locked_out(token_for("alice", "alice-pass-123"), window=1)
    time.sleep(1.2)
    assert token_for("alice", "alice-pass-123").status_code == 200


def test_behind_a_proxy_the_address_is_the_one_the_proxy_saw(settings, alice):
    settings.FORWARDED_FOR_PROXIES = 1
    proxy = "10.0.0.1"

    def via_proxy(password, client, invented=""):
        forwarded = f"{invented}, {client}" if invented else client
        return APIClient().post(
            reverse("api-v1-auth-token"),
            {"username": "alice", "password": password},
            format="json",
            REMOTE_ADDR=proxy,
            HTTP_X_FORWARDED_FOR=forwarded,
        )

    assert [via_proxy("guess", LAB, invented=f"192.0.2.{n}").status_code for n in range(5)] == [400] * 5
    assert_locked_out(via_proxy("alice-pass-123", LAB, invented="192.0.2.99"))  # an invented hop changes nothing
    assert via_proxy("alice-pass-123", ELSEWHERE).status_code == 200  # not everyone behind the proxy


def test_the_admin_login_is_limited_too(client, django_user_model):
    django_user_model.objects.create_user("root", password="root-pass-123", is_staff=True, is_superuser=True)
    url = reverse("admin:login")
    for _ in range(5):
        client.post(url, {"username": "root", "password": "guess"}, REMOTE_ADDR=LAB)
    client.post(url, {"username": "root", "password": "root-pass-123"}, REMOTE_ADDR=LAB)
    assert not signed_in(client)
    client.post(url, {"username": "root", "password": "root-pass-123"}, REMOTE_ADDR=ELSEWHERE)
    assert signed_in(client)


# --- passwords ----------------------------------------------------------------------------


@pytest.mark.parametrize("password", ["12345678", "87654321", "password", "qwertyuiop", "iloveyou1"])
def test_common_and_numeric_passwords_are_refused(password):
    with pytest.raises(ValidationError):
        validate_password(password)


def test_a_password_like_the_username_is_refused_and_the_demo_password_is_not(alice, django_user_model):
    with pytest.raises(ValidationError):
        validate_password("alice2026", user=alice)
    for username in ("student1", "teacher1", "admin1"):
        validate_password("quizsite-demo", user=django_user_model(username=username))


# --- API tokens ---------------------------------------------------------------------------


def papers(token):
    return APIClient().get(reverse("api-v1-papers"), HTTP_AUTHORIZATION=f"Token {token}")


def test_a_token_expires_after_API_TOKEN_TTL(settings, alice):
    settings.API_TOKEN_TTL = 3600
    token = token_for("alice", "alice-pass-123").json()["token"]
    assert papers(token).status_code == 200
    Token.objects.filter(key=token).update(created=timezone.now() - timedelta(seconds=3599))
    assert papers(token).status_code == 200
    Token.objects.filter(key=token).update(created=timezone.now() - timedelta(seconds=3601))
    expired = papers(token)
    assert expired.status_code == 401 and expired["WWW-Authenticate"] == "Token"
    assert "expired" in expired.json()["message"]


def test_the_default_token_lifetime_is_a_school_day_at_most(settings):
    assert 0 < settings.API_TOKEN_TTL <= 24 * 3600


def test_asking_for_a_token_again_replaces_it(alice):
    first = token_for("alice", "alice-pass-123").json()["token"]
    second = token_for("alice", "alice-pass-123").json()["token"]
    assert first != second
    assert papers(first).status_code in (401, 403)
    assert papers(second).status_code == 200
    assert list(Token.objects.filter(user=alice).values_list("key", flat=True)) == [second]


def test_a_checked_token_is_not_read_again_but_a_replaced_one_or_a_deactivated_user_is_refused_at_once(settings, alice):
    settings.API_TOKEN_CACHE_SECONDS = 10  # as deployed (tests turn it off: they age tokens in the database)
    first = token_for("alice", "alice-pass-123").json()["token"]
    assert papers(first).status_code == 200
    with CaptureQueriesContext(connection) as queries:
        assert papers(first).status_code == 200
    assert not [query for query in queries if Token._meta.db_table in query["sql"]]
    second = token_for("alice", "alice-pass-123").json()["token"]  # replaces the first
    assert papers(first).status_code in (401, 403)
    assert papers(second).status_code == 200
    alice.is_active = False
    alice.save()
    assert papers(second).status_code in (401, 403)


# --- the session cookie -------------------------------------------------------------------


def test_a_sign_in_ends_when_the_browser_closes_and_after_a_school_day(settings, client, alice):
    assert settings.SESSION_EXPIRE_AT_BROWSER_CLOSE and settings.SESSION_COOKIE_AGE <= 12 * 3600
    response = login_page(client, "alice", "alice-pass-123")
    assert response.status_code == 302
    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["max-age"] == "" and cookie["expires"] == ""  # a browser-session cookie
    assert client.session.get_expiry_age() == settings.SESSION_COOKIE_AGE  # and on the server


def test_a_sign_in_may_be_kept_across_browser_restarts_where_configured(settings, client, alice):
    settings.SESSION_EXPIRE_AT_BROWSER_CLOSE = False
    settings.SESSION_COOKIE_AGE = 3600
    cookie = login_page(client, "alice", "alice-pass-123").cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["max-age"] == 3600
