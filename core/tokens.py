"""API tokens that expire and are replaced each time one is asked for.

A token is DRF's (one per user, `Authorization: Token <key>`). It is refused API_TOKEN_TTL seconds
after it was issued, and asking for a token again issues a new key: the old one stops working, so a
token left on a shared computer or in a script's log is good for a school day at most.

Each process remembers a token it has checked for API_TOKEN_CACHE_SECONDS (an exam's autosaves send
the same token every few seconds, and reading it is a query a request). A token replaced or deleted,
or a user changed (deactivated), is forgotten at once by the process that did it; another process
may still accept the old token for at most that many seconds. 0 turns the memory off.
"""

from __future__ import annotations

import copy
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from rest_framework import exceptions, status
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token

from core.recent import Recent


class TokenExpired(exceptions.APIException):
    """401 even where session authentication comes first (DRF would answer 403 to AuthenticationFailed
    there, as it cannot name a scheme to retry with)."""

    status_code = status.HTTP_401_UNAUTHORIZED
    default_detail = "the API token has expired: ask for a new one (POST /api/v1/auth/token)"
    default_code = "token_expired"
    auth_header = "Token"  # sent as WWW-Authenticate


def token_expired(token: Token, *, now: datetime | None = None) -> bool:
    now = now or timezone.now()
    return token.created <= now - timedelta(seconds=settings.API_TOKEN_TTL)


class _CheckedTokens:
    """Tokens this process checked lately: key → (user, token)."""

    def __init__(self) -> None:
        self.recent: Recent[tuple[Any, Token]] = Recent(seconds=lambda: settings.API_TOKEN_CACHE_SECONDS, limit=20_000)

    def get(self, key: str) -> tuple[Any, Token] | None:
        found, entry = self.recent.get(key)
        if not found or entry is None:
            return None
        return copy.copy(entry[0]), entry[1]  # a request's own user: attribute caches are not shared

    def put(self, key: str, user: Any, token: Token) -> None:
        self.recent.put(key, (copy.copy(user), token))

    def forget_all(self) -> None:
        self.recent.forget()

    def forget(self, *, key: str | None = None, user_id: int | None = None) -> None:
        if key is not None:
            self.recent.forget(key)
        if user_id is not None:
            self.recent.forget_where(lambda _, entry: entry[0].pk == user_id)


checked_tokens = _CheckedTokens()


def token_forget(sender: Any, instance: Any, **kwargs: Any) -> None:
    """post_delete of a Token, post_save of a user: this process accepts it no more without a check."""
    if isinstance(instance, Token):
        checked_tokens.forget(key=instance.key)
    else:
        checked_tokens.forget(user_id=instance.pk)


class ExpiringTokenAuthentication(TokenAuthentication):
    def authenticate_credentials(self, key: str) -> tuple[Any, Token]:
        known = checked_tokens.get(key)
        if known is None:
            user, token = super().authenticate_credentials(key)  # refuses an unknown key, an inactive user
            checked_tokens.put(key, user, token)
        else:
            user, token = known
        if token_expired(token):
            raise TokenExpired()
        return user, token


def token_rotate(*, user: User) -> Token:
    """A new token for `user`, replacing the one they had."""
    for _ in range(3):
        try:
            with transaction.atomic():
                Token.objects.filter(user=user).delete()
                return Token.objects.create(user=user)
        except IntegrityError:  # another request for the same user made its token in between
            continue
    raise IntegrityError(f"could not issue a token for user {user.pk}")


class ExpiringBearerAuthentication(ExpiringTokenAuthentication):
    """The same expiring token sent as `Authorization: Bearer <key>`, as OpenAI's clients send their API
    key (`openai.OpenAI(api_key=<key>)`)."""

    keyword = "Bearer"


class BearerScheme(OpenApiAuthenticationExtension):
    """The bearer token in the API schema, apart from DRF's `Token` scheme."""

    target_class = ExpiringBearerAuthentication
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict:
        prefix = ExpiringBearerAuthentication.keyword
        return build_bearer_security_scheme_object(header_name="AUTHORIZATION", token_prefix=prefix)
