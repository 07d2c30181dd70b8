"""The exam-day benches' production shape: the configurations rendered from deploy/ (the files
docs/deploy.md gives to production) are complete, HAProxy accepts its own, and PgBouncer started with
its own pools a PostgreSQL by transaction. `make test` installs both (`make scale-tools`, which stops
`make test` where it cannot); without them these checks fail, naming the target."""

from __future__ import annotations

import os
import subprocess
from contextlib import contextmanager

import pytest

from tests.bench_scale import haproxy_config, pgbouncer, pgbouncer_config, tool_path
from tests.local_servers import private_postgres

MACHINES_POSTGRES = os.environ.get("FAULTS_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")


def installed(name: str) -> str:
    path = tool_path(name)
    if path is None:
        pytest.fail(f"{name} is not installed (make scale-tools installs Debian's package)")
    return path


@contextmanager
def a_postgres():
    """The machine's PostgreSQL, or a cluster of this test's own where none answers."""
    import psycopg

    admin = MACHINES_POSTGRES.rsplit("/", 1)[0] + "/postgres"
    try:
        psycopg.connect(admin, connect_timeout=3).close()
    except psycopg.Error:
        with private_postgres("postgres") as url:
            yield url
        return
    yield admin


def test_the_haproxy_configuration_balances_the_web_instances(tmp_path):
    config = haproxy_config(tmp_path, 18000, [18001, 18002]).read_text()
    assert "${" not in config
    assert "bind 127.0.0.1:18000" in config
    assert "    server web1 127.0.0.1:18001\n    server web2 127.0.0.1:18002" in config
    assert "http-check send meth GET uri /livez ver HTTP/1.1 hdr Host 127.0.0.1" in config
    checked = subprocess.run([installed("haproxy"), "-c", "-f", str(tmp_path / "haproxy.cfg")], capture_output=True)
    assert checked.returncode == 0, checked.stderr.decode()


def test_the_pgbouncer_configuration_pools_by_transaction(tmp_path):
    config = pgbouncer_config("postgres://postgres@127.0.0.1:5432/quizsite_bench_load", tmp_path, 16432).read_text()
    assert "${" not in config
    assert "quizsite_bench_load = host=127.0.0.1 port=5432 dbname=quizsite_bench_load" in config
    assert "pool_mode = transaction" in config
    assert "listen_port = 16432" in config
    assert (tmp_path / "userlist.txt").read_text() == '"postgres" ""\n'


def test_pgbouncer_started_with_the_configuration_serves_transactions(tmp_path):
    import psycopg

    installed("pgbouncer")
    folder = tmp_path / "pooler"
    folder.mkdir()
    with a_postgres() as database, pgbouncer(database, folder) as (url, port, _):
        with psycopg.connect(url, autocommit=True, prepare_threshold=None) as connection:
            for value in (1, 2):  # each statement its own transaction, on whichever server connection
                assert connection.execute("SELECT %s::int", (value,), prepare=False).fetchone() == (value,)
        admin = f"postgres://postgres@127.0.0.1:{port}/pgbouncer"
        with psycopg.connect(admin, autocommit=True, cursor_factory=psycopg.ClientCursor) as console:
            settings = {row[0]: row[1] for row in console.execute("SHOW CONFIG").fetchall()}
    assert settings["pool_mode"] == "transaction"
