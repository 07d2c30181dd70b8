"""API tokens that expire and are replaced each time one is asked for.

A token is DRF's (one per user, `Authorization: Token <key>`). It is refused API_TOKEN_TTL seconds
after it was issued, and asking for a token again issues a new key: the old one stops working, so a
token left on a shared computer or in a script's log is good for a school day at most.
"""

from __future__ import annotations

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


class ExpiringTokenAuthentication(TokenAuthentication):
    def authenticate_credentials(self, key: str) -> tuple[Any, Token]:
        user, token = super().authenticate_credentials(key)
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
