"""One project exception and one API error shape: {"message": ..., "extra": {...}}."""

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

logger = logging.getLogger(__name__)


class ApplicationError(Exception):
    """A refusal the user can act on (bad input, illegal state change, a model server down)."""

    status_code: int = status.HTTP_400_BAD_REQUEST

    def __init__(self, message: str, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra or {}


class ServiceUnavailable(ApplicationError):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE


# A refusal's `extra["code"]` decides its status where it names one; otherwise the error's own.
STATUS_BY_CODE = {
    "not_found": status.HTTP_404_NOT_FOUND,
    "not_available": status.HTTP_403_FORBIDDEN,
    # Well formed, but the session, paper or question is not in a state that allows it.
    "time_up": status.HTTP_409_CONFLICT,
    "not_open": status.HTTP_409_CONFLICT,
    "closed": status.HTTP_409_CONFLICT,
    "checked": status.HTTP_409_CONFLICT,
    "sequential": status.HTTP_409_CONFLICT,
    "session_open": status.HTTP_409_CONFLICT,
    "no_attempts": status.HTTP_409_CONFLICT,
    "rule_short": status.HTTP_409_CONFLICT,
    "empty": status.HTTP_409_CONFLICT,
    "locked": status.HTTP_409_CONFLICT,
    "not_wrong": status.HTTP_409_CONFLICT,
    "unanswered": status.HTTP_409_CONFLICT,
}


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ApplicationError):
        code_status = STATUS_BY_CODE.get(exc.extra.get("code", ""), exc.status_code)
        return Response({"message": exc.message, "extra": exc.extra}, status=code_status)
    if isinstance(exc, RequestDataTooBig):
        limit = (settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 0) // 1024
        return Response(
            {"message": f"the request is too long: the limit is {limit} KB", "extra": {"code": "too_large"}},
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, OperationalError | InterfaceError):
        # The database is unreachable or restarting, not a fault of the request: the client sends it again
        # (an autosave carries its client_seq, so a save that did commit is not applied twice).
        # Other database errors stay 500.
        logger.warning("database unavailable: %s", exc)
        return Response(
            {"message": "the database is not answering; try again shortly", "extra": {"code": "unavailable"}},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "5"},
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    if not isinstance(exc, exceptions.APIException):
        return None  # unknown errors stay 500

    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc.detail, dict | list):
        response.data = {"message": "Validation error", "extra": {"fields": exc.detail}}
    else:
        response.data = {"message": str(exc.detail), "extra": {}}
    return response
