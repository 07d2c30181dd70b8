"""The exam-day benches' production shape: the configurations rendered from deploy/ (the files
docs/deploy.md gives to production) are complete and valid for HAProxy and PgBouncer themselves."""

from __future__ import annotations

import subprocess

import pytest

from tests.bench_scale import haproxy_config, pgbouncer_config, tool_path


def test_the_haproxy_configuration_balances_the_web_instances(tmp_path):
    config = haproxy_config(tmp_path, 18000, [18001, 18002]).read_text()
    assert "${" not in config
    assert "bind 127.0.0.1:18000" in config
    assert "    server web1 127.0.0.1:18001\n    server web2 127.0.0.1:18002" in config
    assert "http-check send meth GET uri /livez ver HTTP/1.1 hdr Host 127.0.0.1" in config
    if tool_path("haproxy") is None:
        pytest.skip("haproxy is not installed (make scale-tools)")
    checked = subprocess.run([tool_path("haproxy"), "-c", "-f", str(tmp_path / "haproxy.cfg")], capture_output=True)
    assert checked.returncode == 0, checked.stderr.decode()


def test_the_pgbouncer_configuration_pools_by_transaction(tmp_path):
    config = pgbouncer_config("postgres://postgres@127.0.0.1:5432/quizsite_bench_load", tmp_path, 16432).read_text()
    assert "${" not in config
    assert "quizsite_bench_load = host=127.0.0.1 port=5432 dbname=quizsite_bench_load" in config
    assert "pool_mode = transaction" in config
    assert "listen_port = 16432" in config
    assert (tmp_path / "userlist.txt").read_text() == '"postgres" ""\n'
