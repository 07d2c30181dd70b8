"""The HTTP client against real sockets: retries over replicas, a circuit breaker, clear errors."""

import http.server
import json
import threading

import pytest

from inference.client import ModelClient, ModelRequestRefused, ModelServerError
from inference.serving import vllm_command
from quizsite.env import url_list


class FakeOpenAI(http.server.BaseHTTPRequestHandler):
    """A loopback stand-in for a second replica, to count which server gets each request."""

    hits = 0

    def do_POST(self):  # noqa: N802
        type(self).hits += 1
        self.rfile.read(int(self.headers["Content-Length"]))
        body = json.dumps(
            {"model": "quizsite", "choices": [{"message": {"content": "答案：A"}, "finish_reason": "stop"}]}
        )
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args):
        pass


@pytest.fixture
def replica():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeOpenAI)
    FakeOpenAI.hits = 0
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def dead_url():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_a_dead_replica_is_skipped_and_then_left_alone(replica):
    client = ModelClient(urls=[dead_url(), replica], model="quizsite", timeout=2, retries=2, cooldown=60)
    results = [client.chat([{"role": "user", "content": "x"}]).text for _ in range(6)]
    assert results == ["答案：A"] * 6
    assert FakeOpenAI.hits == 6


class RefusingOpenAI(FakeOpenAI):
    """A replica that answers 400, as vLLM does for a request it cannot take (e.g. a bad schema)."""

    def do_POST(self):  # noqa: N802
        type(self).hits += 1
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(400)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"error": "bad schema"}')


def test_a_refused_request_is_not_retried_and_the_server_stays_healthy():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RefusingOpenAI)
    RefusingOpenAI.hits = 0
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        client = ModelClient(urls=[url], model="quizsite", timeout=2, retries=3)
        for _ in range(2):
            with pytest.raises(ModelRequestRefused, match=r"refused the request \(400\)") as caught:
                client.chat([{"role": "user", "content": "x"}])
            assert "bad schema" in caught.value.extra["detail"]
        assert RefusingOpenAI.hits == 2  # one request each: no retries, and no breaker opened
    finally:
        server.shutdown()


def test_no_server_at_all_is_a_clear_error():
    client = ModelClient(urls=[dead_url()], model="quizsite", timeout=1, retries=1)
    with pytest.raises(ModelServerError, match="not available") as caught:
        client.chat([{"role": "user", "content": "x"}])
    assert "ConnectionError" in str(caught.value.extra["attempts"])


def test_inference_urls_are_validated():
    assert url_list(["http://a:8100/v1/", " http://b:8100 "]) == ["http://a:8100", "http://b:8100"]
    with pytest.raises(Exception, match="not an http"):
        url_list(["a:8100"])


def test_server_command_uses_the_module_entry_point_and_cpu_settings(settings):
    settings.VLLM_DEVICE = "cpu"
    argv, env = vllm_command(model_path="/m", version_name="ft-1", port=9000)
    assert argv[1:3] == ["-m", "vllm.entrypoints.openai.api_server"]
    assert argv[argv.index("--served-model-name") + 1 : argv.index("--served-model-name") + 3] == ["quizsite", "ft-1"]
    assert "--dtype" in argv and argv[argv.index("--dtype") + 1] == "float32"
    assert env["VLLM_CPU_KVCACHE_SPACE"]
    settings.VLLM_DEVICE = "cuda"
    argv, _ = vllm_command(model_path="/m", version_name="ft-1")
    assert "--tensor-parallel-size" in argv and "--gpu-memory-utilization" in argv
