"""Per-user rate limits on the endpoints that call the model or start GPU work.

Rates come from settings.THROTTLE_RATES (scope → "count/period"), read at each request so a test or
an operator's override takes effect at once. Counts live in the default cache: one fixed window per
user and scope, counted with cache.add + cache.incr, which are atomic in Redis and in the per-process
memory cache alike. A refused request gets 429, the project's error shape and Retry-After.
"""

import functools
import math
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, JsonResponse
from django.http.response import HttpResponseBase
from rest_framework.exceptions import Throttled
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

# Django's request, or DRF's wrapping one (it passes META and user through).
AnyRequest = HttpRequest | Request
View = Callable[..., HttpResponseBase]


def rate_parse(rate: str) -> tuple[int, int]:
    """ "30/min" → (30, 60); the period is named by its first letter (s, m, h, d)."""
    try:
        count, period = rate.split("/")
        return int(count), PERIODS[period.strip()[0].lower()]
    except (ValueError, KeyError, IndexError):
        raise ImproperlyConfigured(f"THROTTLE_RATES: {rate!r} is not count/period (s, m, h, d)") from None


def throttle_hit(*, scope: str, ident: str) -> float | None:
    """Count one request of `ident` in `scope`: None if allowed, else the seconds until it would be."""
    rate = settings.THROTTLE_RATES.get(scope)
    if not rate:
        return None
    limit, period = rate_parse(rate)
    now = time.time()
    window = int(now // period)
    key = f"throttle:{scope}:{ident}:{period}:{window}"
    cache.add(key, 0, timeout=period + 1)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=period + 1)
        count = 1
    if count <= limit:
        return None
    return (window + 1) * period - now


def client_address(request: AnyRequest) -> str:
    """REMOTE_ADDR, or behind FORWARDED_FOR_PROXIES proxies the address the outermost one saw: the entry it
    appended to X-Forwarded-For (those before it are the client's to invent)."""
    proxies = settings.FORWARDED_FOR_PROXIES
    if proxies:
        hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        hops = [hop for hop in hops if hop]
        if len(hops) >= proxies:
            return hops[-proxies]
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def request_ident(request: AnyRequest) -> str:
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"user-{user.pk}"
    return f"ip-{client_address(request)}"


def throttled_message(wait: float) -> str:
    """DRF's own words (in the request's language), so both kinds of view refuse alike."""
    return str(Throttled(wait=wait).detail)


class ScopedUserThrottle(BaseThrottle):
    """DRF throttle by the view's `throttle_scope`, per user (per address when signed out).
    DRF answers 429 with Retry-After; the project's handler gives it the usual error shape."""

    def allow_request(self, request: Request, view: APIView) -> bool:
        scope = getattr(view, "throttle_scope", None)
        self._wait = throttle_hit(scope=scope, ident=request_ident(request)) if scope else None
        return self._wait is None

    def wait(self) -> float | None:
        return self._wait


class ThrottledPostOnly(ScopedUserThrottle):
    """The same, counting only POSTs (a list and its create share one view)."""

    def allow_request(self, request: Request, view: APIView) -> bool:
        if request.method != "POST":
            return True
        return super().allow_request(request, view)


def throttle_view(scope: str) -> Callable[[View], View]:
    """The same limit for a plain Django view (one DRF cannot wrap, such as a streamed response)."""

    def decorator(view: View) -> View:
        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            wait = throttle_hit(scope=scope, ident=request_ident(request))
            if wait is not None:
                response = JsonResponse(
                    {"message": throttled_message(wait), "extra": {"code": "throttled"}}, status=429
                )
                response["Retry-After"] = str(math.ceil(wait))
                return response
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
