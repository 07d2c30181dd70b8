"""The model servers answer only with the API key: vLLM refuses /v1 without it, the supervisor's public
port refuses every request but the health probe without it (vLLM leaves /invocations, /tokenize and
others open), the app's client and the supervisor send it, a fresh clone gets a private key under var/,
production refuses to serve or call the models without VLLM_API_KEY, and the public port is on loopback
unless configured otherwise."""

from __future__ import annotations

import asyncio
import http.server
import io
import json
import os
import socket
import stat
import subprocess
import sys
import threading

import pytest
import requests
from django.core.exceptions import ImproperlyConfigured

from core.ports import free_port
from inference.engines import get_engine, reset_engine
from inference.engines.http import HttpEngine, model_server_api_key
from inference.serving.plans import ServingPlan
from inference.serving.process import ModelProcess, vllm_command
from inference.serving.public_port import Switchboard
from tests.conftest import REPO

CHAT = {"messages": [{"role": "user", "content": "1+1=?"}], "max_tokens": 4}
KEY = "test-model-server-key"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


# --- vLLM itself (the session's real server) -------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/v1/models", None),
        ("post", "/v1/chat/completions", {**CHAT, "model": "quizsite"}),
        ("post", "/v1/load_lora_adapter", {"lora_name": "swapped", "lora_path": "/tmp/not-an-adapter"}),
        ("post", "/v1/unload_lora_adapter", {"lora_name": "quizsite"}),
    ],
)
def test_the_model_server_refuses_a_request_without_the_key(vllm_server, method, path, body):
    for headers in ({}, bearer("not-the-key"), {"Authorization": vllm_server.api_key}):  # none, wrong, no scheme
        response = requests.request(method, f"{vllm_server.url}{path}", json=body, headers=headers, timeout=30)
        assert response.status_code == 401, (path, headers, response.status_code, response.text[:200])


@pytest.mark.slow
def test_with_the_key_the_model_server_answers_and_the_app_client_works(db, served):
    models = requests.get(f"{served.url}/v1/models", headers=served.headers, timeout=30)
    assert models.status_code == 200 and "quizsite" in {entry["id"] for entry in models.json()["data"]}
    chat = requests.post(
        f"{served.url}/v1/chat/completions", json={**CHAT, "model": "quizsite"}, headers=served.headers, timeout=60
    )
    assert chat.status_code == 200, chat.text[:300]
    # the app's client sends the configured key: the server requires it
    client = get_engine()
    assert client.served_models() == ["quizsite", served.version_name]
    assert client.chat(CHAT["messages"], max_tokens=4).model == served.version_name
    assert client.health() == {served.url: True}
    # the supervisor's own calls to its child carry it too
    child = ModelProcess(plan=ServingPlan("v", "/m", "v"), port=served.port, log_path=REPO / "unused.log")
    child.api_key = served.api_key
    assert child.healthy() and child.busy() == 0
    assert requests.get(f"{served.url}/v1/models", headers=child.headers, timeout=30).status_code == 200


# --- the supervisor's public port -----------------------------------------------------------------


class Upstream(http.server.BaseHTTPRequestHandler):
    """Stands in for vLLM: echoes each request it gets (keep-alive, so several come on one connection)."""

    protocol_version = "HTTP/1.1"
    seen: list[tuple[str, str]] = []

    def _echo(self):
        length = int(self.headers.get("Content-Length") or 0)
        if self.headers.get("Transfer-Encoding") == "chunked":
            body = b""
            while size := int(self.rfile.readline().split(b";")[0], 16):
                body += self.rfile.read(size)
                self.rfile.readline()
            self.rfile.readline()
        else:
            body = self.rfile.read(length)
        Upstream.seen.append((self.command, self.path))
        answer = json.dumps({"method": self.command, "path": self.path, "body": body.decode()}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    do_GET = do_POST = _echo

    def log_message(self, *args):
        pass


@pytest.fixture
def public_port(monkeypatch):
    """A Switchboard with KEY on a loopback port, in front of an echoing stand-in for vLLM."""
    monkeypatch.setattr("inference.serving.public_port.REFUSED_LINGER", 0.5)
    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    Upstream.seen = []
    board = Switchboard(api_key=KEY)
    board.target = ModelProcess(
        plan=ServingPlan("v", "/m", "v"), port=upstream.server_address[1], log_path=REPO / "unused.log"
    )
    port = free_port()
    running = {}

    async def serve():
        running["loop"], running["stop"] = asyncio.get_running_loop(), asyncio.Event()
        server = await asyncio.start_server(board.handle, "127.0.0.1", port)
        running["ready"].set()
        async with server:
            await running["stop"].wait()

    running["ready"] = threading.Event()
    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    running["ready"].wait(10)
    yield f"http://127.0.0.1:{port}"
    running["loop"].call_soon_threadsafe(running["stop"].set)
    thread.join(10)
    upstream.shutdown()


def test_the_public_port_forwards_only_requests_with_the_key(public_port):
    # vLLM's --api-key guards /v1 only: /invocations runs the same inference, the rest is open too
    for method, path in (
        ("post", "/invocations"),
        ("post", "/v1/chat/completions"),
        ("post", "/v1/load_lora_adapter"),
        ("post", "/tokenize"),
        ("get", "/metrics"),
        ("get", "/health?x"),
        ("post", "/health"),
    ):
        for headers in ({}, bearer("not-the-key"), {"Authorization": f"Basic {KEY}"}):
            response = requests.request(method, f"{public_port}{path}", json=CHAT, headers=headers, timeout=10)
            assert response.status_code == 401, (method, path, headers, response.status_code)
    assert Upstream.seen == []  # none of them reached the server
    assert requests.get(f"{public_port}/health", timeout=10).status_code == 200  # the probe needs no key

    with requests.Session() as session:  # with the key, several requests on one kept-alive connection
        session.headers.update(bearer(KEY))
        for path in ("/v1/models", "/invocations", "/v1/models"):
            answer = session.post(f"{public_port}{path}", json=CHAT, timeout=10)
            assert answer.status_code == 200 and answer.json()["path"] == path
            assert json.loads(answer.json()["body"]) == CHAT
        chunked = session.post(f"{public_port}/v1/completions", data=iter([b'{"a":', b" 1}"]), timeout=10)
        assert chunked.json() == {"method": "POST", "path": "/v1/completions", "body": '{"a": 1}'}
    assert len(Upstream.seen) == 5


def test_a_request_without_the_key_on_a_connection_that_had_it_is_not_forwarded(public_port):
    port = int(public_port.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        raw.sendall(f"GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n\r\n".encode())
        raw.sendall(b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
        received = b""
        while chunk := raw.recv(65536):
            received += chunk
    assert received.count(b"HTTP/1.1 200") == 1 and b"/invocations" not in received
    assert Upstream.seen == [("GET", "/v1/models")]


def test_requests_the_server_could_read_differently_are_refused(public_port):
    port = int(public_port.rsplit(":", 1)[1])
    smuggled = (
        f"POST /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n"
        "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
        "POST /invocations HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        raw.sendall(smuggled.encode())
        received = b""
        while chunk := raw.recv(65536):
            received += chunk
    assert b"/invocations" not in received
    assert ("POST", "/invocations") not in Upstream.seen


# --- where the key comes from ---------------------------------------------------------------------


def test_a_fresh_clone_gets_a_private_key_kept_across_restarts(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    settings.VLLM_API_KEY = ""
    key = model_server_api_key()
    path = tmp_path / "vllm-api-key"
    assert len(key) >= 32 and path.read_text().strip() == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert model_server_api_key() == key  # the same on the next start
    assert [entry.name for entry in tmp_path.iterdir()] == ["vllm-api-key"]
    # vLLM gets it in its environment, never on its command line (readable by every user of the machine)
    argv, env = vllm_command(model_path="/m", version_name="ft-1", port=9)
    assert env["VLLM_API_KEY"] == key and key not in " ".join(argv) and "--api-key" not in argv
    assert HttpEngine(urls=["http://127.0.0.1:9"], model="quizsite")._session.headers["Authorization"] == (
        f"Bearer {key}"
    )
    settings.VLLM_API_KEY = KEY  # configured: used as given
    assert model_server_api_key() == KEY
    assert vllm_command(model_path="/m", version_name="ft-1")[1]["VLLM_API_KEY"] == KEY


def test_production_refuses_to_call_the_models_without_a_key(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    settings.PRODUCTION, settings.VLLM_API_KEY, settings.INFERENCE_BACKEND = True, "", "vllm"
    reset_engine()
    for call in (
        model_server_api_key,
        get_engine,
        lambda: HttpEngine(urls=["http://127.0.0.1:9"], model="quizsite"),
        lambda: vllm_command(model_path="/m", version_name="ft-1"),
    ):
        with pytest.raises(ImproperlyConfigured, match="VLLM_API_KEY"):
            call()
    assert not (tmp_path / "vllm-api-key").exists()  # no key made up in production
    settings.VLLM_API_KEY = KEY
    assert get_engine().api_key == KEY
    reset_engine()


def production_env(tmp_path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in ("VLLM_API_KEY", "DEBUG", "VLLM_HOST")}
    return env | {
        "DJANGO_SETTINGS_MODULE": "quizsite.settings",
        "DJANGO_ENV": "production",
        "SECRET_KEY": "x" * 50,
        "ALLOWED_HOSTS": "quiz.example.edu",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'empty.sqlite3'}",
        **extra,
    }


def test_production_refuses_to_serve_the_models_without_a_key(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "serve_model", "--port", str(free_port())],
        cwd=REPO, env=production_env(tmp_path), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode != 0 and "VLLM_API_KEY must be set in production" in result.stderr, result.stderr[-2000:]


def test_the_public_port_is_on_loopback_unless_configured(tmp_path, monkeypatch):
    script = "from django.conf import settings; print(settings.VLLM_HOST, settings.VLLM_PORT)"
    shown = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {script}"],
        cwd=REPO, env=production_env(tmp_path, VLLM_API_KEY=KEY), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert shown.stdout.split() == ["127.0.0.1", "8100"], shown.stderr[-2000:]
    # what serve_model binds: VLLM_HOST, nothing wider
    from inference.serving.supervisor import ServingSupervisor

    bound = {}

    def run(self):
        async def bind():
            server = await asyncio.start_server(self.board.handle, self.host, self.port)
            bound["address"] = server.sockets[0].getsockname()
            bound["key"] = self.board.api_key
            server.close()

        # in a thread of its own: a browser test earlier in the session may leave this thread's loop running
        thread = threading.Thread(target=asyncio.run, args=(bind(),))
        thread.start()
        thread.join(timeout=30)

    monkeypatch.setattr(ServingSupervisor, "run", run)
    monkeypatch.setattr("inference.management.commands.serve_model.ModelVersion.objects.filter", FakeVersions)
    from django.core.management import call_command

    call_command("serve_model", "--version", "v", "--port", str(free_port()), stdout=io.StringIO())
    assert bound["address"][0] == "127.0.0.1" and bound["key"] == model_server_api_key()


class FakeVersions:
    """ModelVersion.objects.filter(...) answering one full version, without a database."""

    def __init__(self, **_):
        pass

    def first(self):
        from tuning.models import ModelVersion

        return ModelVersion(name="v", path="/m", method="full")
