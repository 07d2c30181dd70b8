"""Fault injection: real processes (a Celery worker, gunicorn, a TCP proxy in front of PostgreSQL or
Redis) are started, killed or cut off, and the test checks what the project promises afterwards.

- A tuning worker killed mid-training: the stale-run recovery queues the run again and a new worker
  resumes it from its checkpoint (or it ends failed with the reason); it never stays `running`.
- The database restarted mid-exam: saves are refused with a 503 while it is away, nothing refused is
  acknowledged, the client's retries (same client_seq, as exam.js sends them) succeed once it is back,
  and every acknowledged answer is stored exactly once with the last value sent.
- The broker down when a student submits: the submission is saved and answered at once; the grading
  sweep queues the pending answer once the broker is back.
- The model server killed mid-grading is tests/inference/test_serving.py
  (test_killing_the_server_mid_exam_loses_no_answer_and_pending_grades_complete).

After each scenario `assert_settled` checks that nothing is left half-way: no run in a non-terminal
state, no session open past its deadline once the sweeper has run, no answer of a finished session
waiting for a grade that the grading sweep would not pick up.

Every process started here listens on loopback only and is stopped in a `finally`.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests
from django.db import connection
from django.utils import timezone

from core.ports import free_port
from tests.local_servers import Unavailable, private_postgres, private_redis
from tests.processes import database_url
from tests.waiting import wait_for

REPO = Path(__file__).resolve().parents[2]


# --- helpers -----------------------------------------------------------------------------------


def unavailable(reason: str) -> None:
    """A scenario's server could be neither found nor started: a failure, never a skip (`make test`
    installs Debian's redis-server and postgresql where missing: `make test-servers`)."""
    pytest.fail(f"{reason} (make test-servers installs Debian's redis-server and postgresql)")


def broker_url() -> str:
    from quizsite.celery import app

    return app.conf.broker_url


# The machine's Redis, for the broker outage where the suite runs on the embedded broker: the outage is
# simulated for Redis, and a Redis server runs wherever the suite does (a database of its own here).
FAULTS_REDIS_URL = os.environ.get("FAULTS_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
def faults_redis_url():
    """The suite's broker when it is Redis; else the machine's Redis, if one answers; else a Redis of
    this test's own (a failure where none can be started)."""
    url = broker_url()
    if url.startswith(("redis://", "rediss://")):
        yield url
        return
    import redis

    try:
        redis.Redis.from_url(FAULTS_REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError:
        pass
    else:
        yield FAULTS_REDIS_URL
        return
    try:
        with private_redis() as url:
            yield url
    except Unavailable as exc:  # raised before the yield only: the server could not be started
        unavailable(f"the broker outage is simulated for Redis: none answers at {FAULTS_REDIS_URL}, and {exc}")


@contextmanager
def broker_of_this_process(url: str):
    """This process's Celery app sends to `url` meanwhile (the suite's own broker again after)."""
    from quizsite.celery import app

    before = app.conf.broker_url, app.conf.broker_write_url
    if url == before[0]:
        yield
        return

    def switch(to: str, write_to: str | None) -> None:
        # the write URL too: a CELERY_BROKER_URL in the environment (a parallel worker's) outranks broker_url
        app.conf.broker_url, app.conf.broker_write_url = to, write_to
        app._pool = None  # the connection pool and producers are built for a broker: build them again
        app.amqp._producer_pool = None

    switch(url, url)
    try:
        yield
    finally:
        switch(*before)


def process_env(**extra: str) -> dict[str, str]:
    """The environment of a process that shares this test's database and broker."""
    return {
        **os.environ,
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": broker_url(),
        "DEBUG": "false",
        "MODEL_TASKS_ON_EVENTS": "false",
        "LOG_LEVEL": "INFO",
        **extra,
    }


def stop_process(process: subprocess.Popen, *, timeout: float = 20) -> None:
    """SIGTERM its process group, SIGKILL if it is still there after `timeout`."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    except ProcessLookupError:
        process.wait(timeout=30)


def log_tail(path: Path, chars: int = 3000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else ""


@contextmanager
def celery_worker(log: Path, *, queues: str = "tuning", env: dict[str, str] | None = None):
    """`celery worker --pool solo` as a process of its own (its own group, so it can be killed whole)."""
    argv = [
        sys.executable, "-m", "celery", "-A", "quizsite", "worker",
        "-Q", queues, "--pool", "solo", "-n", f"faults-{uuid.uuid4().hex[:8]}@%h",
        "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel", "INFO",
    ]  # fmt: skip
    with log.open("ab") as output:
        process = subprocess.Popen(
            argv, cwd=REPO, env=env or process_env(), stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield process
    finally:
        stop_process(process, timeout=30)


@contextmanager
def web_server(log: Path, *, env: dict[str, str], threads: int = 4):
    """gunicorn serving the project on a free loopback port; yields its base URL once /healthz answers."""
    port = free_port()
    argv = [
        sys.executable, "-m", "gunicorn", "quizsite.wsgi:application",
        "--bind", f"127.0.0.1:{port}", "--workers", "1", "--worker-class", "gthread", "--threads", str(threads),
        "--timeout", "60", "--graceful-timeout", "5", "--log-level", "warning",
    ]  # fmt: skip
    with log.open("ab") as output:
        process = subprocess.Popen(
            argv, cwd=REPO, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    base = f"http://127.0.0.1:{port}"
    try:

        def up() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"gunicorn exited at start:\n{log_tail(log)}")
            try:
                return requests.get(f"{base}/healthz", timeout=5).status_code == 200
            except requests.RequestException:
                return False

        wait_for(up, timeout=90, what="gunicorn answers /healthz", every=0.3)
        yield base
    finally:
        stop_process(process)


class TcpProxy:
    """Forwards a loopback port to `target`. stop(): the port is closed and every connection through
    it is cut (the server has gone away); start(): it accepts again on the same port (it is back);
    start(silent=True): it accepts connections and never answers (a dead host, a half-open link)."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.port = free_port()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self.silent = False

    def start(self, *, silent: bool = False) -> None:
        self.silent = silent
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.settimeout(0.2)
        self._listener = listener
        thread = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        thread.start()
        self._threads.append(thread)

    def _accept(self, listener: socket.socket) -> None:
        while self._listener is listener:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self.silent:
                with self._lock:
                    self._sockets.add(client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            client.settimeout(None)
            upstream.settimeout(None)
            with self._lock:
                if self._listener is not listener:  # stopped meanwhile
                    client.close()
                    upstream.close()
                    return
                self._sockets |= {client, upstream}
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def stop(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            sockets, self._sockets = self._sockets, set()
        if listener is not None:
            listener.close()
        for end in sockets:
            try:
                end.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            end.close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()


def through(url: str, port: int) -> str:
    """The same URL, to a loopback port (a proxy) instead of its host and port."""
    parts = urlsplit(url)
    auth = parts.netloc.rpartition("@")[0]
    return urlunsplit(parts._replace(netloc=f"{auth}@127.0.0.1:{port}" if auth else f"127.0.0.1:{port}"))


@contextmanager
def proxy_to(target: tuple[str, int]):
    proxy = TcpProxy(target)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()


def assert_settled() -> None:
    """Nothing is left half-way once a scenario has settled: no tuning run queued or running, no
    session open past its deadline after the deadline sweeper (beat's quizbank.sweep_sessions) has
    run, and every answer of a finished session graded, or waiting where someone will grade it:
    needs_review in the teachers' queue, pending where the grading sweep (inference.grade_pending)
    queues it again."""
    from inference.grading import answers_awaiting_model_grade
    from quizbank.models import OPEN_SESSION_STATES, Answer, GradeStatus, QuizSession, SessionState
    from quizbank.services import sessions_sweep
    from tuning.models import TERMINAL_STATUSES, TuningRun

    unsettled_runs = list(TuningRun.objects.exclude(status__in=TERMINAL_STATUSES).values_list("pk", "status"))
    assert not unsettled_runs, f"runs left in a non-terminal state: {unsettled_runs}"

    sessions_sweep()
    overdue = QuizSession.objects.filter(state__in=OPEN_SESSION_STATES, deadline__lte=timezone.now())
    assert not overdue.exists(), f"sessions open past their deadline: {list(overdue.values_list('pk', 'state'))}"

    finished = Answer.objects.filter(session__state=SessionState.FINISHED)
    unknown = finished.exclude(grade_status__in=GradeStatus.values)
    assert not unknown.exists(), f"answers without a grade status: {list(unknown.values_list('pk', 'grade_status'))}"
    pending = set(finished.filter(grade_status=GradeStatus.PENDING).values_list("pk", flat=True))
    swept = set(answers_awaiting_model_grade(older_than_seconds=0))
    assert pending <= swept, f"pending answers the grading sweep would never queue: {sorted(pending - swept)}"


# --- a tuning worker killed mid-training --------------------------------------------------------

# Long enough to be killed between two checkpoints, short enough to finish soon after a resume:
# 20 optimiser steps, a checkpoint every 5, progress (and so the heartbeat) at every logged step.
KILLABLE = {
    "per_device_train_batch_size": 2,
    "gradient_accumulation_steps": 1,
    "num_train_epochs": 0.4,
    "save_steps": 5,
    "logging_steps": 1,
    "val_size": 0.0,
    "early_stopping_patience": 0,
}


def complete_checkpoints(run_dir: Path) -> list[str]:
    """Checkpoints written to the end (the trainer state is the last file a checkpoint gets)."""
    folder = run_dir / "checkpoints"
    if not folder.is_dir():
        return []
    return sorted(
        (path.name for path in folder.glob("checkpoint-*") if (path / "trainer_state.json").exists()),
        key=lambda name: int(name.rsplit("-", 1)[1]),
    )


def forget_unacked(task_id: str) -> None:
    """The killed worker's message stays unacknowledged in Redis and would be delivered again to some
    later worker after the visibility timeout: this run is over, so take it out (Redis brokers only)."""
    url = broker_url()
    if not url.startswith(("redis://", "rediss://")):
        return
    import redis

    client = redis.Redis.from_url(url)
    for tag, raw in client.hscan_iter("unacked"):
        if task_id.encode() in raw:
            client.hdel("unacked", tag)
            client.zrem("unacked_index", tag)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_training_is_resumed_from_its_checkpoint_never_left_running(
    demo_bank, tiny_base_model, settings, tmp_path
):
    from tuning.models import RunStatus, TuningRun
    from tuning.services import run_create, version_register
    from tuning.tasks import recover_stale_runs, run_tuning

    version_register(name="base", path=tiny_base_model, method="bootstrap")
    run = run_create(method="lora", overrides=KILLABLE, enqueue=False)
    run_dir = Path(run.config["output_dir"])
    log = tmp_path / "workers.log"
    settings.TUNING_STALE_SECONDS = 5  # beat's recovery treats a run silent this long as abandoned
    message = None
    try:
        with celery_worker(log) as first:
            message = run_tuning.delay(run.pk)

            def running_with_a_checkpoint() -> bool:
                if first.poll() is not None:
                    raise AssertionError(f"the worker exited:\n{log_tail(log)}")
                status = TuningRun.objects.values_list("status", flat=True).get(pk=run.pk)
                assert status in (RunStatus.QUEUED, RunStatus.RUNNING), f"{status}:\n{log_tail(log)}"
                return status == RunStatus.RUNNING and bool(complete_checkpoints(run_dir))

            wait_for(running_with_a_checkpoint, timeout=300, what="the run is running and has a checkpoint", every=0.1)
            os.killpg(first.pid, signal.SIGKILL)  # the worker dies mid-training: no cleanup, no message ack
            first.wait(timeout=30)
        killed_at = complete_checkpoints(run_dir)[-1]
        run.refresh_from_db()
        assert run.status == RunStatus.RUNNING and run.attempts == 1  # what the dead worker left behind

        with celery_worker(log) as second:

            def recovered() -> bool:
                recover_stale_runs.apply()  # beat runs it every minute
                return TuningRun.objects.filter(pk=run.pk).exclude(status=RunStatus.RUNNING).exists()

            wait_for(recovered, timeout=60, what="the stale-run recovery takes the run back", every=1)

            def ended() -> bool:
                if second.poll() is not None:
                    raise AssertionError(f"the second worker exited:\n{log_tail(log)}")
                run.refresh_from_db()
                return run.status in (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED)

            wait_for(ended, timeout=400, what="the recovered run ends", every=0.5)
    finally:
        if message is not None:
            forget_unacked(message.id)

    events = list(run.events.order_by("pk").values_list("message", flat=True))
    assert any(event.startswith("queued again") for event in events), events
    if run.status == RunStatus.SUCCEEDED:
        resumed = [event for event in events if event.startswith("resuming from checkpoint-")]
        assert resumed, events
        assert int(resumed[-1].rsplit("-", 1)[1]) >= int(killed_at.rsplit("-", 1)[1])  # not from scratch
        assert run.attempts == 2 and run.output_version is not None and run.progress == 1.0
    else:
        # Killed while the next checkpoint was half-written: the resume cannot load it, and the run
        # ends failed with the reason instead.
        assert run.status == RunStatus.FAILED and run.error, (run.status, run.error, log_tail(log))
    assert_settled()


# --- the database restarted mid-exam ------------------------------------------------------------


class AutosaveClient:
    """Saves answers the way exam.js does: PUT with an increasing client_seq; a 5xx or a lost connection
    is sent again with the same client_seq after a growing delay; anything else but 200 is a refusal."""

    def __init__(self, base: str, token: str, session_id: int):
        self.url = f"{base}/api/v1/sessions/{session_id}/answers/"
        self.http = requests.Session()
        self.http.headers.update({"Authorization": f"Token {token}", "Accept": "application/json"})
        self.seq = 0
        self.acknowledged: dict[int, tuple[object, int]] = {}  # position -> (response, client_seq)
        self.failures: list[tuple[int | str, str]] = []  # (status or exception, content type)
        self._lock = threading.Lock()

    def save(self, position: int, response, *, give_up_after: float = 90) -> None:
        with self._lock:
            self.seq += 1
            seq = self.seq
        delay, deadline = 0.2, time.monotonic() + give_up_after
        while True:
            try:
                reply = self.http.put(
                    f"{self.url}{position}", json={"response": response, "client_seq": seq}, timeout=15
                )
            except requests.RequestException as exc:
                self.failures.append((type(exc).__name__, ""))
            else:
                if reply.status_code == 200:
                    assert reply.json()["client_seq"] == seq
                    with self._lock:
                        self.acknowledged[position] = (response, seq)
                    return
                assert reply.status_code >= 500, f"save refused: {reply.status_code} {reply.text[:300]}"
                self.failures.append((reply.status_code, reply.headers.get("Content-Type", "")))
            assert time.monotonic() < deadline, f"the save of {position} never succeeded: {self.failures[-5:]}"
            time.sleep(delay)
            delay = min(delay * 2, 2.0)


def side_by_side(base: str, session_id: int, token: str, n: int = 24) -> list[int]:
    """Statuses of `n` reads of the session sent at once on fresh connections, so that each of the
    server's threads takes some."""

    def read(_) -> int:
        url = f"{base}/api/v1/sessions/{session_id}"
        return requests.get(url, headers={"Authorization": f"Token {token}"}, timeout=30).status_code

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(read, range(n)))


def exam_for(user, questions) -> tuple[int, dict[int, list[str]]]:
    """An open exam session of these questions: (session id, {position: option keys})."""
    from quizbank.services import paper_create, session_start

    paper = paper_create(title="断线卷", questions=questions, published=True)
    session = session_start(user=user, paper=paper)
    items = session.items.select_related("question")
    return session.pk, {item.position: item.option_order or item.question.option_keys for item in items}


# The machine's PostgreSQL, for the database outage where the suite runs on SQLite: the scenario runs
# again in a pytest of its own on it (its test database is test_faults, nobody else's).
FAULTS_POSTGRES_URL = os.environ.get("FAULTS_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/faults")


def on_the_machines_postgres(test: str) -> None:
    """Run `test` of this file in a pytest of its own on FAULTS_POSTGRES_URL, or, where no PostgreSQL
    answers there, on a cluster of its own; fail with its output if it fails, and fail where no
    cluster can be started."""
    import psycopg

    admin = urlunsplit(urlsplit(FAULTS_POSTGRES_URL)._replace(path="/postgres"))
    try:
        psycopg.connect(admin, connect_timeout=3).close()
    except psycopg.Error:
        try:
            with private_postgres(urlsplit(FAULTS_POSTGRES_URL).path.lstrip("/")) as url:
                _pytest_on(test, url)
        except Unavailable as exc:
            unavailable(f"the database outage is simulated for PostgreSQL: none answers at {admin}, and {exc}")
        return
    _pytest_on(test, FAULTS_POSTGRES_URL)


def _pytest_on(test: str, database: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", f"{Path(__file__).relative_to(REPO)}::{test}", "-p", "no:cacheprovider",
         "-q", "--no-header", "-x"],
        cwd=REPO, env={**os.environ, "DATABASE_URL": database}, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0 and " passed" in result.stdout, result.stdout[-4000:] + result.stderr[-2000:]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_database_restarted_mid_exam_refuses_saves_with_503_and_retried_saves_land_once(alice, demo_bank, tmp_path):
    if connection.vendor != "postgresql":
        on_the_machines_postgres(
            "test_the_database_restarted_mid_exam_refuses_saves_with_503_and_retried_saves_land_once"
        )
        return
    from rest_framework.authtoken.models import Token

    from quizbank.models import Answer, QuestionType

    choices = [question for question in demo_bank if question.qtype == QuestionType.SINGLE_CHOICE][:5]
    session_id, options = exam_for(alice, choices)
    token = Token.objects.create(user=alice).key
    settings_dict = connection.settings_dict
    target = (settings_dict["HOST"] or "127.0.0.1", int(settings_dict["PORT"] or 5432))

    with proxy_to(target) as database:
        # Persistent connections, as in production: the restart breaks connections the web process holds.
        env = process_env(DATABASE_URL=database_url(host="127.0.0.1", port=database.port), CONN_MAX_AGE="600")
        with web_server(tmp_path / "gunicorn.log", env=env, threads=8) as base:
            client = AutosaveClient(base, token, session_id)
            for position, keys in options.items():
                client.save(position, keys[0])
            assert not client.failures
            assert set(side_by_side(base, session_id, token)) == {200}  # every server thread holds a connection

            database.stop()  # the database restarts: every connection is cut, new ones are refused
            refused = requests.put(
                f"{client.url}1",
                json={"response": options[1][1], "client_seq": 10_000},
                headers=client.http.headers,
                timeout=15,
            )
            assert refused.status_code == 503, refused.text[:500]
            assert refused.headers["Content-Type"].startswith("application/json")
            assert refused.json()["extra"]["code"] == "unavailable" and refused.json()["message"]
            assert requests.get(f"{base}/healthz", timeout=15).status_code == 503

            # The student goes on answering; the client retries while the database is away.
            second_round = {position: keys[1] for position, keys in options.items()}
            saving = threading.Thread(
                target=lambda: [client.save(position, key) for position, key in second_round.items()], daemon=True
            )
            saving.start()
            wait_for(lambda: len(client.failures) >= 3, timeout=30, what="saves fail during the outage")
            saving.join(timeout=1.0)
            assert saving.is_alive()  # nothing of it acknowledged yet
            assert all(client.acknowledged[position][0] == keys[0] for position, keys in options.items())

            database.start()  # the database is back; the web process is not restarted
            saving.join(timeout=120)
            assert not saving.is_alive(), f"saves still failing after the database came back: {client.failures[-5:]}"
            # Connections held through the outage are checked before use (CONN_HEALTH_CHECKS), so no
            # server thread answers 503 once more with a connection the restart broke.
            after = len(client.failures)
            assert set(side_by_side(base, session_id, token)) == {200}
            client.save(1, options[1][-1])
            assert client.failures[after:] == []
            finished = requests.post(
                f"{base}/api/v1/sessions/{session_id}/finish", headers=client.http.headers, timeout=30
            )
            assert finished.status_code == 200, finished.text[:500]

    statuses = {status for status, _ in client.failures}
    assert statuses <= {503, "ConnectionError", "ReadTimeout"}, client.failures
    assert all(kind.startswith("application/json") for status, kind in client.failures if status == 503)
    rows = list(
        Answer.objects.filter(session_id=session_id).values_list("item__position", "response_data", "client_seq")
    )
    assert len(rows) == len({position for position, _, _ in rows}) == len(options)  # one row per question
    stored = {position: (response, seq) for position, response, seq in rows}
    assert stored == client.acknowledged  # every acknowledged answer, the last one sent, exactly once
    assert_settled()


# --- the broker down when a student submits ----------------------------------------------------


class ModelServerHealth(BaseHTTPRequestHandler):
    """Answers a model server's /health: the grading sweep queues work only when one is up."""

    def do_GET(self):  # noqa: N802
        self.send_response(200 if self.path == "/health" else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format, *args):  # noqa: A002
        pass


@contextmanager
def healthy_model_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), ModelServerHealth)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def queued_grading(redis_client, answer_id: int, queue: str = "inference") -> set[bytes]:
    """The grade_answer messages for this answer waiting in a Redis queue (read, not taken)."""
    found = set()
    for raw in redis_client.lrange(queue, 0, -1):
        headers = json.loads(raw).get("headers", {})
        if headers.get("task") == "inference.grade_answer" and headers.get("argsrepr") == f"({answer_id},)":
            found.add(raw)
    return found


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("outage", ["refused", "silent"])
def test_with_the_broker_down_a_submission_is_saved_and_its_grading_queued_later(
    outage, alice, demo_bank, settings, tmp_path, faults_redis_url
):
    url = faults_redis_url
    import redis
    from rest_framework.authtoken.models import Token

    from inference.engines import reset_engine
    from inference.tasks import grade_pending
    from quizbank.models import Answer, GradeStatus, QuestionType, QuizSession, SessionState
    from quizbank.services import question_create

    choice = next(question for question in demo_bank if question.qtype == QuestionType.SINGLE_CHOICE)
    essay = question_create(
        data={
            "subject": "测试/评分",
            "qtype": QuestionType.ESSAY,
            "stem": "简述分数加法的步骤。",
            "answer": "先通分，再把分子相加。",
            "answer_data": {"rubric": [{"id": "1", "criterion": "通分", "points": 2}]},
            "score": 2,
        }
    )
    session_id, options = exam_for(alice, [choice, essay])
    token = Token.objects.create(user=alice).key
    headers = {"Authorization": f"Token {token}", "Accept": "application/json"}
    broker = urlsplit(url)

    with proxy_to((broker.hostname or "127.0.0.1", broker.port or 6379)) as proxy:
        env = process_env(CELERY_BROKER_URL=through(url, proxy.port), MODEL_TASKS_ON_EVENTS="true")
        with web_server(tmp_path / "gunicorn.log", env=env) as base:
            proxy.stop()  # the broker goes away: connections are refused
            if outage == "silent":
                proxy.start(silent=True)  # or it is there and never answers
            for position, keys in options.items():
                response = keys[0] if keys else "先通分，再相加。"
                saved = requests.put(
                    f"{base}/api/v1/sessions/{session_id}/answers/{position}",
                    json={"response": response, "client_seq": 1},
                    headers=headers,
                    timeout=30,
                )
                assert saved.status_code == 200, saved.text[:500]
            started = time.monotonic()
            finished = requests.post(f"{base}/api/v1/sessions/{session_id}/finish", headers=headers, timeout=60)
            took = time.monotonic() - started
            assert finished.status_code == 200, f"{finished.status_code} {finished.text[:500]}"
            assert took < 10, f"the submission waited {took:.1f} s for the broker"
            logged = log_tail(tmp_path / "gunicorn.log", 20_000)
            assert "could not queue inference.grade_answer" in logged, logged
            proxy.stop()
            proxy.start()  # the broker is back

    assert QuizSession.objects.get(pk=session_id).state == SessionState.FINISHED
    answers = {answer.question_id: answer for answer in Answer.objects.filter(session_id=session_id)}
    assert answers[choice.pk].grade_status == GradeStatus.AUTO
    pending = answers[essay.pk]
    assert pending.grade_status == GradeStatus.PENDING  # saved, waiting for the model
    assert_settled()  # pending, and the grading sweep will find it

    # Beat's grading sweep, with a model server up, queues the answer on the real broker.
    queue = redis.Redis.from_url(url)
    before = queued_grading(queue, pending.pk)  # ids repeat across test databases: only new messages count
    settings.GRADING_SWEEP_EVERY_SECONDS = 0
    settings.MODEL_TASKS_ON_EVENTS = True
    with healthy_model_server() as model_url:
        settings.INFERENCE_URLS = [model_url]
        reset_engine()
        try:
            with broker_of_this_process(url):
                grade_pending.apply()
        finally:
            reset_engine()
    queued = queued_grading(queue, pending.pk) - before
    for raw in queued:  # no worker of this test's database takes it: leave no message behind
        queue.lrem("inference", 0, raw)
    assert len(queued) == 1, f"answer {pending.pk} queued {len(queued)} times"
