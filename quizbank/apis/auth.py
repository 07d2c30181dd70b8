"""/api/v1/auth/token: a username and password exchanged for an API token."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.exceptions import Throttled
from rest_framework.response import Response

from core.signin import SIGNIN_LOCKED, signin_wait
from core.tokens import token_rotate
from quizbank.apis.common import ERROR


class AuthTokenApi(ObtainAuthToken):
    # The credentials travel in the body: no session is read, so no CSRF token is needed.
    authentication_classes: list = []

    @extend_schema(
        operation_id="auth_token_create",
        tags=["auth"],
        summary="Exchange a username and password for an API token",
        description=(
            "Send the token as `Authorization: Token <token>`. Each call issues a new token (the previous one "
            "stops working); a token expires API_TOKEN_TTL seconds after it was issued (401). Too many failed "
            "sign-ins from one address are refused with 429 and Retry-After."
        ),
        request=AuthTokenSerializer,
        responses={
            200: inline_serializer("AuthTokenResponse", {"token": serializers.CharField()}),
            400: ERROR,
            429: ERROR,
        },
        auth=[],
    )
    def post(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        try:
            serializer.is_valid(raise_exception=True)
        except serializers.ValidationError:
            wait = signin_wait(request)
            if wait is not None:
                raise Throttled(wait=wait, detail=str(SIGNIN_LOCKED)) from None
            raise
        token = token_rotate(user=serializer.validated_data["user"])
        return Response({"token": token.key})
