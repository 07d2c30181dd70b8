"""Compute pools and the tuning workers in them, as the workers report themselves.

A pool is a Celery queue: `tuning.<pool>`, and pool `default` is the `tuning` queue itself. Each tuning
worker reports its hardware when it starts (tuning.worker_signals, on Celery's worker_ready) and again
every TUNING_WORKER_HEARTBEAT_SECONDS; one not seen for TUNING_WORKER_GONE_SECONDS counts as gone.
"""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone

from tuning.models import ComputeWorker, TuningRun

DEFAULT_POOL = "default"
QUEUE_PREFIX = "tuning"
HEARTBEAT_SECONDS = getattr(settings, "TUNING_WORKER_HEARTBEAT_SECONDS", 30)
GONE_SECONDS = getattr(settings, "TUNING_WORKER_GONE_SECONDS", 3 * HEARTBEAT_SECONDS)
HARDWARE_FIELDS = (
    "device_type",
    "device_name",
    "device_count",
    "memory_per_device_gb",
    "bf16",
    "bitsandbytes",
    "cpu_cores",
    "ram_gb",
)


def pool_queue(pool: str) -> str:
    """The Celery queue of a pool."""
    return QUEUE_PREFIX if pool == DEFAULT_POOL else f"{QUEUE_PREFIX}.{pool}"


def queue_pool(queue: str) -> str | None:
    """The pool a queue serves (None: not a tuning queue)."""
    if queue == QUEUE_PREFIX:
        return DEFAULT_POOL
    prefix = f"{QUEUE_PREFIX}."
    return queue.removeprefix(prefix) if queue.startswith(prefix) and len(queue) > len(prefix) else None


def compute_worker_report(*, name: str, pool: str, host: str, hardware: dict, starting: bool = False) -> ComputeWorker:
    """Store what a worker says of itself (at start, `starting`, and in each heartbeat)."""
    now = timezone.now()
    values = {key: hardware[key] for key in HARDWARE_FIELDS if key in hardware}
    values |= {"pool": pool, "host": host, "last_seen": now, "stopped": False}
    if starting:
        values |= {"started_at": now, "run": None}
    worker, _ = ComputeWorker.objects.update_or_create(name=name, defaults=values)
    return worker


def compute_worker_busy(*, name: str, run_id: int | None) -> None:
    """The worker started training run `run_id` (None: it finished and is idle)."""
    run = TuningRun.objects.filter(pk=run_id).first() if run_id is not None else None
    ComputeWorker.objects.filter(name=name).update(run=run, last_seen=timezone.now())


def compute_worker_stopped(*, name: str) -> None:
    ComputeWorker.objects.filter(name=name).update(stopped=True, run=None)
