"""Limits on guessing passwords, for every sign-in that names its request (the login page, the admin's,
the API's token endpoint).

Attempts are counted in the default cache per (username, address) and per address, each in a window
of SIGNIN_WINDOW_SECONDS opened by its first attempt. A sign-in that succeeds gives its attempts back,
so only failures use up a limit: SIGNIN_LIMIT_PER_USER failures of one name from one address, and
SIGNIN_LIMIT_PER_ADDRESS failures from one address whatever the names (a class behind one school
address mistypes too, so this one is higher). Past either limit the sign-in is refused without checking
the password until the window ends. A name alone is never locked: an attacker elsewhere cannot lock a
student out, and the student's own attempts from the lab stay counted apart from the attacker's.

An attempt is counted before its password is checked (cache.add + cache.incr, atomic in Redis and in
the per-process memory cache alike), so requests sent side by side cannot get past the limit either.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth import views as auth_views
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.forms import AuthenticationForm
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy, ngettext

from core.throttling import AnyRequest, client_address

if TYPE_CHECKING:
    from django.contrib.auth.models import User

# The API's refusal; DRF adds how long to wait ("Expected available in N seconds.") in the same language.
SIGNIN_LOCKED = gettext_lazy("Too many failed sign-ins.")


@dataclass(frozen=True)
class _Counter:
    key: str
    limit: int


def _counters(request: AnyRequest, username: str) -> list[_Counter]:
    address = client_address(request)
    # Hashed: a username may hold characters a cache key may not.
    name = hashlib.sha256(username.casefold().encode()).hexdigest()[:32]
    return [
        _Counter(f"signin:user:{name}:{address}", settings.SIGNIN_LIMIT_PER_USER),
        _Counter(f"signin:address:{address}", settings.SIGNIN_LIMIT_PER_ADDRESS),
    ]


def _count(counter: _Counter, now: float) -> tuple[int, float]:
    """Count one attempt: (attempts in the window so far, seconds until the window ends)."""
    window = settings.SIGNIN_WINDOW_SECONDS
    cache.add(f"{counter.key}:since", now, timeout=window)
    cache.add(counter.key, 0, timeout=window)
    try:
        count = cache.incr(counter.key)
    except ValueError:  # the window ended between add and incr
        cache.add(counter.key, 1, timeout=window)
        count = 1
    since = cache.get(f"{counter.key}:since", now)
    return count, max(since + window - now, 1.0)


def _give_back(counter: _Counter) -> None:
    try:
        cache.decr(counter.key)
    except ValueError:  # the window has ended
        pass


def signin_attempt(*, request: AnyRequest, username: str) -> float | None:
    """Count a sign-in attempt: None if it may go on, else the seconds until it may."""
    now = time.time()
    waits = []
    for counter in _counters(request, username):
        count, wait = _count(counter, now)
        if count > counter.limit:
            waits.append(wait)
    return max(waits) if waits else None


def signin_succeeded(*, request: AnyRequest, username: str) -> None:
    """The password was right: the name's failures from this address are forgotten, and this attempt
    does not count against the address (a class signing in from one address is not limited)."""
    user_counter, address_counter = _counters(request, username)
    cache.delete_many([user_counter.key, f"{user_counter.key}:since"])
    _give_back(address_counter)


def signin_wait(request: AnyRequest | None) -> float | None:
    """The seconds a refused sign-in of this request has to wait, or None if it was not refused for that."""
    return getattr(getattr(request, "_request", request), "signin_wait", None)


def signin_refusal(wait: float) -> str:
    minutes = max(1, math.ceil(wait / 60))
    return ngettext(
        "Too many failed sign-ins. Try again in %(minutes)d minute.",
        "Too many failed sign-ins. Try again in %(minutes)d minutes.",
        minutes,
    ) % {"minutes": minutes}


class LimitedModelBackend(ModelBackend):
    """Django's username and password check behind the limits above. Without a request (a management
    command, the test client's login) there is no address to count by, and nothing is limited."""

    def authenticate(
        self, request: HttpRequest | None, username: str | None = None, password: str | None = None, **kwargs: Any
    ) -> User | None:
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        if request is None or username is None or password is None:
            return super().authenticate(request, username=username, password=password, **kwargs)
        wait = signin_attempt(request=request, username=username)
        if wait is not None:
            # The DRF request wraps Django's: mark the one both can read.
            marked: Any = getattr(request, "_request", request)
            marked.signin_wait = wait
            raise PermissionDenied(signin_refusal(wait))  # stops the other backends too
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is not None:
            signin_succeeded(request=request, username=username)
        return user


class LimitedAuthenticationForm(AuthenticationForm):
    def clean(self) -> dict[str, Any]:
        try:
            return super().clean()
        except forms.ValidationError:
            wait = signin_wait(self.request)
            if wait is not None:
                raise forms.ValidationError(signin_refusal(wait), code="locked_out") from None
            raise


class LoginView(auth_views.LoginView):
    """The login page; a sign-in refused for too many failures answers 429 and says how long to wait."""

    form_class = LimitedAuthenticationForm

    def form_invalid(self, form: AuthenticationForm) -> HttpResponse:
        response = super().form_invalid(form)
        wait = signin_wait(self.request)
        if wait is not None:
            response.status_code = 429
            response["Retry-After"] = str(math.ceil(wait))
        return response

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        wait = signin_wait(self.request)
        context["locked_out"] = signin_refusal(wait) if wait is not None else ""
        return context
