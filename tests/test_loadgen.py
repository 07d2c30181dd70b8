"""The bench's load generator: its statistics, a short real run against a tiny local server, and the
check that compares acknowledged answers with the database rows."""

from __future__ import annotations

import itertools
import json
import math
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.bench import answers_checked
from tests.loadgen import TRANSPORT_ERROR, Outcome, PhaseResult, Request, percentile, run_load


@pytest.mark.parametrize(
    ("q", "expected"),
    [(0, 1), (1, 1), (50, 50), (90, 90), (99, 99), (99.5, 100), (100, 100)],
)
def test_percentile_is_the_nearest_rank(q, expected):
    values = list(range(100, 0, -1))  # unsorted on purpose
    assert percentile(values, q) == expected


def test_percentile_of_few_values_and_of_none():
    assert percentile([0.2], 99) == 0.2
    assert percentile([0.1, 0.3], 50) == 0.1
    assert percentile([0.1, 0.3], 51) == 0.3
    assert math.isnan(percentile([], 99))
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_phase_result_rates_errors_and_latency():
    outcomes = [Outcome(None, 200, latency / 1000, b"") for latency in range(1, 101)]
    outcomes += [Outcome(None, 500, 0.001, b""), Outcome(None, TRANSPORT_ERROR, 0.001, b"")]
    result = PhaseResult(outcomes=outcomes, seconds=2.0, client_cpu_seconds=0.5)
    assert result.count == 102
    assert result.rps == 51
    assert result.errors == 2
    assert result.client_cpu == 0.25
    # errors are timed too: 102 latencies 1, 1, 1, 2, ..., 100 ms; the 51st is 49 ms
    assert result.latency_ms(50) == pytest.approx(49)
    assert result.latency_ms(100) == pytest.approx(100)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like gunicorn's threaded workers

    def _answer(self, status: int, payload: dict, *, close: bool = False, chunked: bool = False):
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
        else:
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    def do_GET(self):  # noqa: N802 (the standard library's name)
        if self.path == "/fail":
            self._answer(500, {"message": "boom"})
        else:
            self._answer(200, {"path": self.path}, close=self.path == "/close", chunked=self.path == "/chunked")

    def do_PUT(self):  # noqa: N802
        data = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self._answer(200, {"echo": data, "auth": self.headers.get("Authorization")})

    def log_message(self, *args):
        pass


@pytest.fixture
def tiny_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_a_short_run_against_a_tiny_server(tiny_server):
    paths = ["/ok", "/close", "/chunked", "/fail"]
    sources = [itertools.repeat(Request("GET", path, tag=path)) for path in paths]
    result = run_load(host="127.0.0.1", port=tiny_server, sources=sources, seconds=0.5)

    by_path = {path: [outcome for outcome in result.outcomes if outcome.tag == path] for path in paths}
    assert all(len(found) > 5 for found in by_path.values()), {path: len(found) for path, found in by_path.items()}
    for path in ("/ok", "/close", "/chunked"):  # keep-alive, a closed connection, a chunked body
        assert {outcome.status for outcome in by_path[path]} == {200}
        assert json.loads(by_path[path][-1].body) == {"path": path}
    assert {outcome.status for outcome in by_path["/fail"]} == {500}
    assert result.errors == len(by_path["/fail"])
    assert 0.5 <= result.seconds < 3
    assert result.rps == pytest.approx(result.count / result.seconds)
    assert 0 < result.latency_ms(50) <= result.latency_ms(99) < 1000
    assert result.client_cpu > 0


def test_each_client_sends_its_own_requests_in_order(tiny_server):
    def puts(client: int):
        for seq in itertools.count(1):
            body = json.dumps({"client": client, "client_seq": seq}).encode()
            yield Request(
                "PUT", "/answers", headers={"Authorization": f"Token t{client}"}, body=body, tag=(client, seq)
            )

    result = run_load(host="127.0.0.1", port=tiny_server, sources=[puts(0), puts(1)], seconds=0.3)
    for client in (0, 1):
        mine = [outcome for outcome in result.outcomes if outcome.tag[0] == client]
        assert [outcome.tag[1] for outcome in mine] == list(range(1, len(mine) + 1))
        echoed = json.loads(mine[-1].body)
        assert echoed == {"echo": {"client": client, "client_seq": len(mine)}, "auth": f"Token t{client}"}


def test_a_dead_server_counts_as_transport_errors():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    result = run_load(host="127.0.0.1", port=port, sources=[[Request("GET", "/")] * 3], seconds=1)
    assert [outcome.status for outcome in result.outcomes] == [TRANSPORT_ERROR] * 3


def test_only_this_machine_is_a_target():
    with pytest.raises(ValueError, match="only targets this machine"):
        run_load(host="example.org", port=80, sources=[], seconds=0.1)


def test_answers_checked_finds_lost_and_duplicated_answers():
    acks = [(1, 1, "A", 1), (1, 1, "B", 3), (1, 2, "C", 2), (2, 1, "D", 5), (3, 1, "A", 1)]
    sent = [*acks, (1, 2, "C", 4), (2, 1, "A", 4), (4, 1, "A", 1), (4, 1, "B", 2), (5, 1, "A", 1), (5, 1, "B", 2)]
    rows = [
        (1, 1, "B", 3),  # the last acknowledged save: kept
        (1, 2, "C", 4),  # a later save whose answer never came back: superseded, not lost
        (2, 1, "A", 4),  # an older save than the acknowledged one: lost
        (4, 1, "A", 1),
        (4, 1, "B", 2),  # two rows for one item: duplicated
        (5, 1, "A", 2),  # one row, but the first save's content under the second's client_seq: duplicated
    ]  # (3, 1) was acknowledged but is not stored: lost
    assert answers_checked(sent, acks, rows) == (2, 2)
    # the same client_seq with another response: lost, and no save as sent (duplicated)
    assert answers_checked(acks[:2], acks[:2], [(1, 1, "C", 3)]) == (1, 1)
    assert answers_checked(sent, acks, [(1, 1, "B", 3), (9, 9, "Z", 1)])[1] == 1  # a row nobody sent
    assert answers_checked([], [], []) == (0, 0)
