"""A tuning worker reports its hardware when it starts and in a heartbeat, and says which run it trains.

Connected in every process (tuning.apps), but the handlers only act in a Celery worker that consumes a
tuning queue (`tuning` or `tuning.<pool>`): a web or inference worker reports nothing. The hardware probe
(tuning.training.hardware, torch) is imported only there, inside the handler.
"""

from __future__ import annotations

import logging
import socket
import threading

from celery.signals import task_postrun, task_prerun, worker_ready, worker_shutdown

logger = logging.getLogger(__name__)

RUN_TASK = "tuning.run_tuning"
_heartbeat_stop = threading.Event()


def tuning_pools(queue_names) -> list[str]:
    from tuning.compute import queue_pool

    return [pool for pool in (queue_pool(name) for name in sorted(queue_names)) if pool is not None]


@worker_ready.connect(dispatch_uid="tuning-worker-ready")
def report_on_start(sender=None, **kwargs) -> None:
    pools = tuning_pools(sender.app.amqp.queues.consume_from or {})
    if not pools:
        return
    from tuning.compute import HEARTBEAT_SECONDS, compute_worker_report
    from tuning.training.hardware import worker_hardware

    hardware, name, host = worker_hardware(), sender.hostname, socket.gethostname()
    # a worker consuming several pools reports under the first; give each pool its own worker
    compute_worker_report(name=name, pool=pools[0], host=host, hardware=hardware, starting=True)
    logger.info("tuning worker %s reported for pool %s: %s", name, pools[0], hardware)

    def beat() -> None:
        while not _heartbeat_stop.wait(HEARTBEAT_SECONDS):
            try:
                compute_worker_report(name=name, pool=pools[0], host=host, hardware=hardware)
            except Exception:  # the database is away for a moment: the next beat tries again
                logger.exception("tuning worker heartbeat failed")

    _heartbeat_stop.clear()
    threading.Thread(target=beat, name="tuning-worker-heartbeat", daemon=True).start()


@worker_shutdown.connect(dispatch_uid="tuning-worker-shutdown")
def report_on_stop(sender=None, **kwargs) -> None:
    _heartbeat_stop.set()
    if sender is not None and tuning_pools(sender.app.amqp.queues.consume_from or {}):
        from tuning.compute import compute_worker_stopped

        compute_worker_stopped(name=sender.hostname)


@task_prerun.connect(dispatch_uid="tuning-worker-busy")
def report_busy(sender=None, args=None, **kwargs) -> None:
    if sender is not None and sender.name == RUN_TASK and args:
        from tuning.compute import compute_worker_busy

        compute_worker_busy(name=sender.request.hostname, run_id=int(args[0]))


@task_postrun.connect(dispatch_uid="tuning-worker-idle")
def report_idle(sender=None, **kwargs) -> None:
    if sender is not None and sender.name == RUN_TASK:
        from tuning.compute import compute_worker_busy

        compute_worker_busy(name=sender.request.hostname, run_id=None)
