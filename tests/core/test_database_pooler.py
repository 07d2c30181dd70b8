"""DATABASE_POOLER=pgbouncer: the settings a transaction pooler needs, and nothing changed without it."""

import json
import os
import subprocess
import sys

from tests.conftest import REPO

SHOW = (
    "import json, quizsite.settings as s; database = s.DATABASES['default']; "
    "print(json.dumps([database.get('DISABLE_SERVER_SIDE_CURSORS', False), database['CONN_MAX_AGE']]))"
)


def settings_with(**variables: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": "postgres://quizsite@127.0.0.1:6432/quizsite", **variables}
    return subprocess.run([sys.executable, "-c", SHOW], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)


def test_behind_pgbouncer_server_side_cursors_are_off_and_connections_still_kept():
    shown = settings_with(DATABASE_POOLER="pgbouncer", CONN_MAX_AGE="600")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout.splitlines()[-1]) == [True, 600]


def test_without_a_pooler_nothing_changes():
    shown = settings_with(CONN_MAX_AGE="600")
    assert json.loads(shown.stdout.splitlines()[-1]) == [False, 600]


def test_an_unknown_pooler_is_refused_at_start():
    shown = settings_with(DATABASE_POOLER="pgpool")
    assert shown.returncode != 0
    assert "DATABASE_POOLER: 'pgpool' is not one of none, pgbouncer" in shown.stderr
