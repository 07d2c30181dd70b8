"""Parallel test workers (pytest-xdist, `make test`) share nothing a test can see.

pytest-django gives each worker its own test database; this plugin gives each its own broker
database too, before Django reads its settings, so that a task one worker queues is never taken
by a Celery worker another started against a different database. Loaded with `-p tests.parallel`
(the Makefile), so it runs before pytest-django sets Django up.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

REPO = Path(__file__).resolve().parent.parent
# Redis databases 8 and up: the broker's default is 0 and a cache's, by convention, 1.
FIRST_REDIS_DATABASE = 8


def worker_broker_url(url: str, worker: str) -> str:
    """The broker URL of one xdist worker ("gw0", "gw1", ...): its own Redis database or SQLite file."""
    index = int(worker.removeprefix("gw"))
    if not url:
        return f"sqla+sqlite:///{REPO / 'var' / f'celery-broker-{worker}.sqlite3'}"
    parts = urlsplit(url)
    if parts.scheme in ("redis", "rediss"):
        return urlunsplit(parts._replace(path=f"/{FIRST_REDIS_DATABASE + index}"))
    if parts.scheme == "sqla+sqlite":
        return url.removesuffix(".sqlite3") + f"-{worker}.sqlite3"
    return url  # another broker (RabbitMQ): queues are not split; run such a suite without -n


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config, parser, args):
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:
        os.environ["CELERY_BROKER_URL"] = worker_broker_url(os.environ.get("CELERY_BROKER_URL", ""), worker)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Which tests run together on one worker (`--dist loadgroup`): a whole file, so its module-scoped
    fixtures are built once; and every test served by the session's vLLM server, so one server is
    started, not one per worker."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return
    for item in items:
        group = "vllm-server" if "vllm_server" in item.fixturenames else item.nodeid.split("::", 1)[0]
        item.add_marker(pytest.mark.xdist_group(group))
