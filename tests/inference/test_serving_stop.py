"""Stopping serve_model leaves no model server behind: SIGTERM or SIGINT while vLLM is starting or once it
serves, and SIGKILL of the supervisor itself (its children stop on their own: the guard's pipe)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests
from django.db import connection

from inference.client import auth_headers, model_server_api_key
from inference.serving import free_port
from tests.conftest import REPO
from tuning.services import version_register

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

STARTED = re.compile(r"started vLLM \(pid (\d+)\) for \S+ on port (\d+)")


def wait_for(predicate, *, timeout: float, what: str, every: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"not within {timeout:.0f} s: {what}")


def leftovers(session: int, port: int) -> list[str]:
    """Processes of a model server: in its session (vLLM and its engine processes), or naming its port."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
        if fields[0] == "Z":
            continue  # exited, not yet reaped
        if int(fields[3]) == session or f"\0--port\0{port}\0".encode() in cmdline:
            shown = cmdline.replace(b"\0", b" ")[:120].decode(errors="replace")
            found.append(f"{entry.name} {shown}")
    return found


class Supervisor:
    """`manage.py serve_model` as a process of its own, on this test's database."""

    def __init__(self, version: str, log: Path):
        self.port, self.log = free_port(), log
        env = {
            **os.environ,
            "DATABASE_URL": f"sqlite:///{connection.settings_dict['NAME']}",
            "VLLM_API_KEY": model_server_api_key(),
            "VLLM_DEVICE": "cpu",
            "SERVING_POLL_SECONDS": "0.5",
            "LOG_LEVEL": "INFO",
            "DEBUG": "false",
        }
        argv = [sys.executable, "manage.py", "serve_model", "--version", version, "--port", str(self.port)]
        with log.open("ab") as output:
            self.process = subprocess.Popen(
                argv, cwd=REPO, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.child: tuple[int, int] | None = None  # vLLM's session (its guard's pid) and private port

    def started(self) -> tuple[int, int]:
        def found():
            assert self.process.poll() is None, f"serve_model exited:\n{self.log.read_text()[-3000:]}"
            match = STARTED.search(self.log.read_text())
            return match and (int(match[1]), int(match[2]))

        self.child = wait_for(found, timeout=120, what="serve_model starts vLLM")
        return self.child

    def serving(self) -> bool:
        try:
            url = f"http://127.0.0.1:{self.port}/v1/models"
            return requests.get(url, headers=auth_headers(model_server_api_key()), timeout=5).status_code == 200
        except requests.RequestException:
            return False

    def assert_nothing_left(self, *, supervisor_within: float | None) -> None:
        if supervisor_within is not None:  # a stop, not a kill: the supervisor exits on its own, in time
            self.process.wait(timeout=supervisor_within)
        session, port = self.child
        wait_for(lambda: not leftovers(session, port), timeout=20, what="no process of the model server is left")

    def clean_up(self) -> None:
        for pid in (self.process.pid, *(self.child[:1] if self.child else ())):
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.process.wait(timeout=30)


@pytest.fixture
def supervisor(tiny_base_model, tmp_path):
    name = f"stop-{uuid.uuid4().hex[:8]}"
    version_register(name=name, path=tiny_base_model, method="bootstrap")
    started = Supervisor(name, tmp_path / "serve_model.log")
    yield started
    started.clean_up()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_while_the_server_starts_stops_it(supervisor, signum):
    supervisor.started()
    time.sleep(2)  # vLLM is loading: the supervisor waits for it to be ready
    assert not supervisor.serving()
    supervisor.process.send_signal(signum)
    # honcho kills the supervisor 5 s after SIGTERM: its children go first
    supervisor.assert_nothing_left(supervisor_within=5)
    assert "did not become ready" not in supervisor.log.read_text()


def test_a_killed_supervisor_takes_its_server_with_it(supervisor):
    supervisor.started()
    time.sleep(2)
    supervisor.process.kill()  # SIGKILL: nothing of the supervisor runs any more
    supervisor.process.wait(timeout=10)
    supervisor.assert_nothing_left(supervisor_within=None)


def test_a_stop_once_serving_stops_the_server(supervisor):
    supervisor.started()
    wait_for(supervisor.serving, timeout=300, what="the model is served", every=1)
    supervisor.process.send_signal(signal.SIGTERM)
    supervisor.assert_nothing_left(supervisor_within=5)
