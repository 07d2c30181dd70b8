"""Health checks, one per kind of process: the web (database and cache), the Celery workers (a ping
over the broker) and whatever a higher app registers (inference registers the model servers). Each
answers a dict of named checks, each {"ok": bool, ...}, with nothing secret in it (no URL with a
password, no setting's value): `/healthz` is public."""

import time
import uuid
from collections.abc import Callable

from django.core.cache import cache
from django.db import connections
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache


def _timed(check: Callable[[], dict | None]) -> dict:
    started = time.monotonic()
    try:
        result = {"ok": True, **(check() or {})}
    except Exception as exc:  # a health check reports every failure; the process must keep answering
        result = {"ok": False, "error": type(exc).__name__}
        if isinstance(exc, TimeoutError | LookupError | ConnectionError | RuntimeError):
            result["detail"] = str(exc)
    result["ms"] = round((time.monotonic() - started) * 1000, 1)
    return result


def _database() -> None:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT 1")
        if cursor.fetchone() != (1,):
            raise RuntimeError("SELECT 1 answered wrong")


def _cache() -> None:
    key, value = f"healthz:{uuid.uuid4().hex}", uuid.uuid4().hex
    cache.set(key, value, timeout=10)
    try:
        if cache.get(key) != value:
            raise RuntimeError("the cache did not keep a value")
    finally:
        cache.delete(key)


def livez(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers (no database or cache touched; `/healthz` checks those)."""
    return JsonResponse({"status": "ok"})


def web_health() -> dict[str, dict]:
    return {"database": _timed(_database), "cache": _timed(_cache)}


def worker_health(*, timeout: float = 5.0, queues: tuple[str, ...] = ()) -> dict[str, dict]:
    """Ping every worker over the broker; with queues, also that each is consumed by some worker."""
    from celery import current_app as app  # the project's app, set up by the settings package

    def ping() -> dict:
        with app.connection_for_write() as connection:
            if "fanout" not in connection.transport.implements.exchange_type:
                # The embedded SQLite broker carries tasks but no broadcasts: no worker can be pinged.
                raise LookupError(f"the {connection.transport_cls} broker cannot ping workers: use Redis")
        inspect = app.control.inspect(timeout=timeout)
        replies = inspect.ping() or {}
        if not replies:
            raise TimeoutError("no worker answered")
        found = {"workers": sorted(replies)}
        if queues:
            consumed = {queue["name"] for listed in (inspect.active_queues() or {}).values() for queue in listed}
            missing = sorted(set(queues) - consumed)
            if missing:
                raise LookupError(f"no worker consumes {', '.join(missing)}")
            found["queues"] = sorted(consumed)
        return found

    return {"workers": _timed(ping)}


# Checks a higher layer adds (inference: "model"), by name; each answers {check name: result}.
_REGISTRY: dict[str, Callable[[], dict[str, dict]]] = {}


def register(name: str, check: Callable[[], dict[str, dict]]) -> None:
    """Make `check` available as `manage.py health --<name>`; called from an app's ready()."""
    _REGISTRY[name] = check


def registered() -> dict[str, Callable[[], dict[str, dict]]]:
    return {"web": web_health, "worker": worker_health, **_REGISTRY}


def timed(check: Callable[[], dict | None]) -> dict:
    """Run one check, timing it and turning any failure into {"ok": False, ...}."""
    return _timed(check)


def healthy(checks: dict[str, dict]) -> bool:
    return all(check["ok"] for check in checks.values())


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """The web process: 200 when its database and cache answer, else 503. No sign-in, no secrets."""
    checks = web_health()
    ok = healthy(checks)
    return JsonResponse({"status": "ok" if ok else "unavailable", "checks": checks}, status=200 if ok else 503)
