"""Stopping serve_model leaves no model server behind: SIGTERM or SIGINT while vLLM is starting or once it
serves (the supervisor exits within the 5 s honcho gives it, its children first), and SIGKILL of the
supervisor itself (its children stop on their own: the guard's pipe). About 2 minutes on 2 cores."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import requests

from core.ports import free_port
from inference.engines.http import auth_headers, model_server_api_key
from tests.conftest import REPO
from tests.processes import database_url
from tests.waiting import wait_for
from tuning.services import version_promote, version_register

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

STARTED = re.compile(r"started vLLM \(pid (\d+)\) for \S+ on port (\d+)")


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

    def __init__(self, version: str | None, log: Path):
        self.port, self.log = free_port(), log
        env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "VLLM_API_KEY": model_server_api_key(),
            "VLLM_DEVICE": "cpu",
            "SERVING_POLL_SECONDS": "0.5",
            # LoRA serving, as in the finding (adapters loadable at run time); vLLM on CPU then skips
            # torch.compile, which takes minutes on a new model directory
            "SERVING_LORA": "true",
            "LOG_LEVEL": "INFO",
            "DEBUG": "false",
        }
        argv = [sys.executable, "manage.py", "serve_model", "--port", str(self.port)]
        argv += ["--version", version] if version else []  # else the active version, switched on promotion
        with log.open("ab") as output:
            self.process = subprocess.Popen(
                argv, cwd=REPO, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.children: list[tuple[int, int]] = []  # each vLLM's session (its guard's pid) and private port

    def started(self, count: int = 1) -> tuple[int, int]:
        """The `count`th vLLM the supervisor starts, once started."""

        def found():
            assert self.process.poll() is None, f"serve_model exited:\n{self.log.read_text()[-3000:]}"
            self.children = [(int(pid), int(port)) for pid, port in STARTED.findall(self.log.read_text())]
            return len(self.children) >= count

        wait_for(found, timeout=120, what=f"serve_model starts vLLM ({count})")
        return self.children[count - 1]

    def serving(self) -> bool:
        try:
            url = f"http://127.0.0.1:{self.port}/v1/models"
            return requests.get(url, headers=auth_headers(model_server_api_key()), timeout=5).status_code == 200
        except requests.RequestException:
            return False

    def engine_started(self, child: tuple[int, int]) -> None:
        """Wait until vLLM has started its engine process (the guard, vLLM, its engine: one session)."""
        wait_for(lambda: len(leftovers(*child)) >= 3, timeout=120, what="vLLM starts its engine", every=0.5)

    def stop(self, signum: int) -> None:
        """Send `signum` as a process manager would, which kills the supervisor 5 s later (honcho)."""
        self.process.send_signal(signum)
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
            self.assert_nothing_left()
            raise AssertionError(f"serve_model still ran 5 s after signal {signum}") from None

    def assert_nothing_left(self) -> None:
        def left():
            return [process for child in self.children for process in leftovers(*child)]

        wait_for(lambda: not left(), timeout=20, what="no process of the model servers is left")

    def clean_up(self) -> None:
        for pid in (self.process.pid, *(session for session, _ in self.children)):
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.process.wait(timeout=30)


@pytest.fixture
def supervisor(tiny_base_model, tmp_path):
    """serve_model serving the (only, active) version of the tiny model."""
    name = f"stop-{uuid.uuid4().hex[:8]}"
    version_promote(
        version=version_register(name=name, path=tiny_base_model, method="bootstrap"),
        force=True,
        reason="switching the served version under test",
    )
    started = Supervisor(None, tmp_path / "serve_model.log")
    yield started
    started.clean_up()


def test_sigterm_while_the_server_starts_stops_it(supervisor):
    supervisor.engine_started(supervisor.started())  # the supervisor waits for vLLM to be ready
    assert not supervisor.serving()
    supervisor.stop(signal.SIGTERM)
    supervisor.assert_nothing_left()
    assert "did not become ready" not in supervisor.log.read_text()


def test_sigint_while_the_server_starts_stops_it(supervisor):
    supervisor.engine_started(supervisor.started())
    supervisor.stop(signal.SIGINT)  # Ctrl-C: vLLM, in a session of its own, does not get it
    supervisor.assert_nothing_left()


def test_a_killed_supervisor_takes_its_server_with_it(supervisor):
    supervisor.engine_started(supervisor.started())
    supervisor.process.kill()  # SIGKILL: nothing of the supervisor runs any more
    supervisor.process.wait(timeout=10)
    supervisor.assert_nothing_left()


def test_sigterm_once_serving_and_switching_stops_both_servers(supervisor, tiny_base_model):
    supervisor.started()
    wait_for(supervisor.serving, timeout=300, what="the model is served", every=1)
    # a promoted version: a second server starts beside the one that serves
    version_promote(
        version=version_register(name=f"promoted-{uuid.uuid4().hex[:8]}", path=tiny_base_model, method="full"),
        force=True,
        reason="switching the served version under test",
    )
    supervisor.engine_started(supervisor.started(2))
    assert supervisor.serving()
    supervisor.stop(signal.SIGTERM)
    supervisor.assert_nothing_left()
