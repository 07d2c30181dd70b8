import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from core.health import healthy, registered, web_health, worker_health


class Command(BaseCommand):
    help = (
        "Check a process's dependencies and exit 0 when healthy, 1 when not (for a container or systemd "
        "health check): the database and cache (default), --worker: Celery workers answer a ping over "
        "the broker, --model: a model server answers (and any other check an app registers)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--worker", action="store_true", help="ping the Celery workers over the broker")
        parser.add_argument(
            "--queue",
            action="append",
            default=[],
            help="with --worker: this queue must be consumed by some worker (repeatable)",
        )
        for name in registered():
            if name not in ("web", "worker"):
                parser.add_argument(f"--{name}", action="store_true", help=f"run the registered {name!r} check")
        parser.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for workers' replies")

    def handle(self, *args: Any, worker: bool, queue: list[str], timeout: float, **options: Any) -> None:
        checks: dict[str, dict] = {}
        if worker or queue:
            checks.update(worker_health(timeout=timeout, queues=tuple(queue)))
        for name, check in registered().items():
            if name not in ("web", "worker") and options.get(name):
                checks.update(check())
        if not checks:
            checks.update(web_health())
        ok = healthy(checks)
        self.stdout.write(json.dumps({"status": "ok" if ok else "unavailable", "checks": checks}, ensure_ascii=False))
        if not ok:
            raise SystemExit(1)
