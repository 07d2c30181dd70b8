"""Servers of the tests' own, for where the machine's do not answer (the fresh-machine path): a Redis
or a PostgreSQL cluster started from the installed binaries (Debian's redis-server and postgresql,
which `make test` installs), in a temporary folder, on a free loopback port, stopped at the end."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from core.ports import free_port


class Unavailable(Exception):
    """The binaries are not installed, or the server did not start: the message says which."""


def _answers(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        return False
    return True


@contextmanager
def private_redis() -> Iterator[str]:
    """A redis-server of this test's own; yields its URL."""
    binary = shutil.which("redis-server") or shutil.which("redis-server", path="/usr/sbin:/usr/bin")
    if binary is None:
        raise Unavailable("redis-server is not installed (make test installs it)")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="test-redis-") as folder:
        argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        process = subprocess.Popen(
            [*argv, "--dir", folder], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            _wait(lambda: _answers(port), process, "redis-server")
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            process.terminate()
            process.wait(timeout=30)


def _postgres_bin(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    if found is None:
        raise Unavailable(f"PostgreSQL's {name} is not installed (make test installs it)")
    return found


def _as_postgres(argv: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run it as the `postgres` user the Debian package makes."""
    if os.geteuid() != 0:
        return argv
    runuser = shutil.which("runuser")
    if runuser is None:
        raise Unavailable("running as root without runuser: PostgreSQL cannot be started")
    return [runuser, "-u", "postgres", "--", *argv]


@contextmanager
def private_postgres(database: str) -> Iterator[str]:
    """A PostgreSQL cluster of this test's own (trust authentication, no fsync); yields the URL of
    `database` on it (pytest-django makes `test_<database>` there)."""
    initdb, pg_ctl = _postgres_bin("initdb"), _postgres_bin("pg_ctl")
    port = free_port()
    folder = Path(tempfile.mkdtemp(prefix="test-postgres-"))
    try:
        if os.geteuid() == 0:
            shutil.chown(folder, "postgres", "postgres")
        data, log = folder / "data", folder / "server.log"
        subprocess.run(
            _as_postgres([initdb, "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"]),
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        started = subprocess.run(
            _as_postgres([pg_ctl, "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "60", "start"]),
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        if started.returncode != 0:
            raise Unavailable(f"PostgreSQL did not start: {started.stdout[-500:]} {started.stderr[-500:]}")
        try:
            yield f"postgres://postgres@127.0.0.1:{port}/{database}"
        finally:
            subprocess.run(_as_postgres([pg_ctl, "-D", str(data), "-m", "immediate", "stop"]), capture_output=True)
    except subprocess.CalledProcessError as exc:
        raise Unavailable(f"initdb failed: {exc.stderr.decode(errors='replace')[-500:]}") from exc
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _wait(ready, process: subprocess.Popen, name: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        if process.poll() is not None:
            raise Unavailable(f"{name} exited with status {process.returncode}")
        time.sleep(0.1)
    raise Unavailable(f"{name} did not answer within {timeout:.0f} s")
