"""The HTTP engine against real sockets: retries over replicas, a circuit breaker, clear errors."""

import http.server
import json
import threading

import pytest

from core.env import url_list
from inference.engines.base import ModelRequestRefused, ModelServerError
from inference.engines.http import HttpEngine


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
    client = HttpEngine(urls=[dead_url(), replica], model="quizsite", timeout=2, retries=2, cooldown=60)
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
        client = HttpEngine(urls=[url], model="quizsite", timeout=2, retries=3)
        for _ in range(2):
            with pytest.raises(ModelRequestRefused, match=r"refused the request \(400\)") as caught:
                client.chat([{"role": "user", "content": "x"}])
            assert "bad schema" in caught.value.extra["detail"]
        assert RefusingOpenAI.hits == 2  # one request each: no retries, and no breaker opened
    finally:
        server.shutdown()


class ClosingOpenAI(FakeOpenAI):
    """Answers the first request of each connection and keeps it open, then closes it on the next
    request without answering: what a server being switched out does to a pooled connection."""

    protocol_version = "HTTP/1.1"

    def do_GET(self):  # noqa: N802
        self.answer({"data": [{"id": "quizsite"}]})  # the model listing

    def do_POST(self):  # noqa: N802
        self.rfile.read(int(self.headers["Content-Length"]))
        self.answer({"model": "quizsite", "choices": [{"message": {"content": "答案：A"}, "finish_reason": "stop"}]})

    def answer(self, payload):
        self.served = getattr(self, "served", 0) + 1
        if self.served > 1:
            self.close_connection = True
            return
        type(self).hits += 1
        body = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_a_pooled_connection_closed_under_a_request_is_reopened_and_not_held_against_the_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), ClosingOpenAI)
    ClosingOpenAI.hits = 0
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    # no retries and a breaker that opens on one failure: only a reconnect can answer every request
    client = HttpEngine(urls=[url], model="quizsite", timeout=2, retries=0, failure_threshold=1, cooldown=60)
    try:
        results = [client.chat([{"role": "user", "content": "x"}]).text for _ in range(4)]
    finally:
        server.shutdown()
    assert results == ["答案：A"] * 4
    assert ClosingOpenAI.hits >= 4


def test_no_server_at_all_is_a_clear_error():
    client = HttpEngine(urls=[dead_url()], model="quizsite", timeout=1, retries=1)
    with pytest.raises(ModelServerError, match="not available") as caught:
        client.chat([{"role": "user", "content": "x"}])
    assert "ConnectionError" in str(caught.value.extra["attempts"])


def test_cooling_down_is_said_once_every_server_failed_and_until_one_may_be_asked_again(replica):
    dead = dead_url()
    alone = HttpEngine(urls=[dead], model="quizsite", timeout=1, retries=1, failure_threshold=2, cooldown=60)
    assert not alone.cooling_down()
    with pytest.raises(ModelServerError):
        alone.chat([{"role": "user", "content": "x"}])
    assert alone.cooling_down()  # a grading task skips building its prompt meanwhile
    both = HttpEngine(urls=[dead, replica], model="quizsite", timeout=1, retries=2, failure_threshold=1, cooldown=60)
    both.chat([{"role": "user", "content": "x"}])
    assert not both.cooling_down()  # one server is still asked


def test_inference_urls_are_validated():
    assert url_list(["http://a:8100/v1/", " http://b:8100 "]) == ["http://a:8100", "http://b:8100"]
    with pytest.raises(Exception, match="not an http"):
        url_list(["a:8100"])


class SwitchingOpenAI(http.server.BaseHTTPRequestHandler):
    """Serves the names in `names`, answering 404 for any other, as vLLM does; the test changes
    `names` as a promotion would (a LoRA adapter loaded, or another server behind the address)."""

    names = ["quizsite", "ft-1"]
    asked: list[str] = []

    def _json(self, status, body):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps(body).encode())

    def do_GET(self):  # noqa: N802
        self._json(200, {"data": [{"id": name} for name in self.names]})

    def do_POST(self):  # noqa: N802
        model = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["model"]
        type(self).asked.append(model)
        if model not in self.names:
            self._json(404, {"error": {"message": f"The model `{model}` does not exist."}})
            return
        self._json(200, {"model": model, "choices": [{"message": {"content": model}, "finish_reason": "stop"}]})

    def log_message(self, *args):
        pass


def test_each_server_is_asked_for_the_active_version_by_name_and_a_switch_is_followed():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), SwitchingOpenAI)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    active = {"name": "ft-1"}
    SwitchingOpenAI.names, SwitchingOpenAI.asked = ["quizsite", "ft-1"], []
    client = HttpEngine(
        urls=[f"http://127.0.0.1:{server.server_address[1]}"],
        model="quizsite",
        preferred=lambda: active["name"],
        listing_ttl=60,  # long: only the 404 may make the client look again
    )
    try:
        first = client.chat([{"role": "user", "content": "x"}])
        assert (first.model, first.text) == ("ft-1", "ft-1")

        # a LoRA adapter of the promoted version is loaded beside the base: asked for by name
        SwitchingOpenAI.names = ["quizsite", "ft-1", "ft-2"]
        active["name"] = "ft-2"
        client._listings.clear()
        client._preferred = (0.0, None)
        assert client.chat([{"role": "user", "content": "x"}]).model == "ft-2"

        # another server took the address: the unknown name is answered 404, asked again with the new one
        SwitchingOpenAI.names = ["quizsite", "ft-3"]
        result = client.chat([{"role": "user", "content": "x"}])
        assert (result.model, result.text) == ("ft-3", "ft-3")
        assert SwitchingOpenAI.asked[-2:] == ["ft-2", "ft-3"]
    finally:
        server.shutdown()


class RecordingOpenAI(FakeOpenAI):
    """Keeps each request's body; answers a chat, or an empty stream when one is asked for."""

    bodies: list[dict] = []

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).bodies.append(body)
        if not body.get("stream"):
            self._reply(200, "application/json", b'{"model": "quizsite", "choices": [{"message": {"content": "x"}}]}')
            return
        self._reply(200, "text/event-stream", b'data: {"choices": [{"delta": {"content": "x"}}]}\n\ndata: [DONE]\n\n')

    def _reply(self, status, content_type, payload):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def test_min_tokens_is_sent_as_vllms_sampling_parameter_only_when_asked_for():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RecordingOpenAI)
    RecordingOpenAI.bodies = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    client = HttpEngine(urls=[f"http://127.0.0.1:{server.server_address[1]}"], model="quizsite", timeout=2)
    messages = [{"role": "user", "content": "x"}]
    try:
        client.chat(messages, max_tokens=64, min_tokens=64)
        assert "".join(client.chat_stream(messages, max_tokens=64, min_tokens=64)) == "x"
        client.chat(messages, max_tokens=64)
        client.chat_stream(messages, max_tokens=64)
    finally:
        server.shutdown()
    sent = [(body["max_tokens"], body.get("min_tokens"), body.get("stream", False)) for body in RecordingOpenAI.bodies]
    assert sent == [(64, 64, False), (64, 64, True), (64, None, False), (64, None, True)]
