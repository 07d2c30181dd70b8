"""Health endpoints and structured logs."""

import io
import json
import logging

import pytest
from django.core.management import call_command
from django.db.utils import OperationalError

from core import health
from core.logging import JsonFormatter, request_id_var


def test_healthz_answers_anyone_with_the_database_and_cache_checked(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["ok"] and body["checks"]["cache"]["ok"]
    assert "no-cache" in response["Cache-Control"] and response["X-Request-ID"]


def test_healthz_is_503_when_the_database_fails_and_tells_no_secret(client, db, monkeypatch, settings):
    def broken():
        raise OperationalError(f"could not connect: password {settings.SECRET_KEY}")

    monkeypatch.setattr(health, "_database", broken)
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == {
        "ok": False,
        "error": "OperationalError",
        "ms": body["checks"]["database"]["ms"],
    }
    assert settings.SECRET_KEY not in response.content.decode()


def test_the_health_command_exits_1_when_no_model_server_answers(db, no_model_server):
    out = io.StringIO()
    with pytest.raises(SystemExit) as exited:
        call_command("health", "--model", stdout=out)
    assert exited.value.code == 1
    assert json.loads(out.getvalue())["checks"]["model"]["ok"] is False


def test_the_health_command_checks_the_web_dependencies_by_default(db):
    out = io.StringIO()
    call_command("health", stdout=out)
    assert json.loads(out.getvalue())["status"] == "ok"


def test_the_worker_check_fails_when_no_worker_consumes_the_queue(db):
    # The embedded broker cannot ping at all; Redis can, and no worker consumes this queue.
    checks = health.worker_health(timeout=0.5, queues=("no-such-queue",))
    assert checks["workers"]["ok"] is False and checks["workers"]["detail"]


def record(message, *args, **kwargs) -> logging.LogRecord:
    logger = logging.getLogger("quizbank.test")
    return logger.makeRecord(logger.name, logging.WARNING, __file__, 1, message, args, None, extra=kwargs or None)


def test_json_logs_carry_time_level_logger_message_and_request_id():
    token = request_id_var.set("req-42")
    try:
        line = JsonFormatter().format(record("saved %s answers", 3, session=7))
    finally:
        request_id_var.reset(token)
    entry = json.loads(line)
    assert entry["level"] == "WARNING" and entry["logger"] == "quizbank.test"
    assert entry["message"] == "saved 3 answers" and entry["request_id"] == "req-42" and entry["session"] == 7
    assert entry["time"].endswith("+00:00")


def test_json_logs_keep_the_exception_on_one_line():
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        item = record("failed")
        item.exc_info = sys.exc_info()
    line = JsonFormatter().format(item)
    assert "\n" not in line and "ValueError: boom" in json.loads(line)["exc_info"]


def test_a_request_id_from_the_proxy_is_kept_and_a_bad_one_replaced(client, db):
    assert client.get("/healthz", HTTP_X_REQUEST_ID="abc-123")["X-Request-ID"] == "abc-123"
    assert client.get("/healthz", HTTP_X_REQUEST_ID="bad id\r\n")["X-Request-ID"] != "bad id\r\n"
