"""The supervisor `manage.py serve_model` runs: it keeps the active version (or a pinned one) served,
switches to a newly promoted version without dropping a request, restarts a server that dies, and
stops every child when it stops."""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import time
from pathlib import Path

import requests
from django.conf import settings
from django.db import close_old_connections

from core.ports import free_port
from inference.engines.http import model_server_api_key
from inference.serving.plans import ServingPlan, active_serving_plan, serving_plan
from inference.serving.process import STOP_GRACE, ModelProcess, cores_beside, serving_device
from inference.serving.public_port import Switchboard

logger = logging.getLogger(__name__)


class ServingSupervisor:
    def __init__(self, *, host: str, port: int, log_dir: Path, version: str = "") -> None:
        self.host, self.port, self.log_dir = host, port, log_dir
        self.pinned_version = version  # serve this version, not whichever is active
        self.board = Switchboard(api_key=model_server_api_key())  # production refuses to run without one
        self.current: ModelProcess | None = None
        self.children: set[ModelProcess] = set()  # every server started and not yet stopped
        self.stopping = threading.Event()
        self.restarts = 0
        self._stop = asyncio.Event()

    # what should be served
    def wanted(self) -> ServingPlan | None:
        if self.pinned_version:
            from tuning.models import ModelVersion

            close_old_connections()
            version = ModelVersion.objects.filter(name=self.pinned_version).first()
            return serving_plan(version) if version else None
        return active_serving_plan()

    def new_process(self, plan: ServingPlan) -> ModelProcess:
        process = ModelProcess(plan=plan, port=free_port(), log_path=self.log_dir / f"vllm-{plan.name}.log")
        if serving_device() == "cpu" and self.current is not None and self.current.alive():
            # The server still answering holds its cores with spinning OpenMP threads: a new one sharing
            # them starts minutes late or not at all, so it gets the cores the other does not use.
            process.cores = cores_beside(self.current.binding)
        self.children.add(process)
        if self.stopping.is_set():
            process.stopped = True  # the stop may already have gone through the children: start nothing
        return process

    def stop_process(self, process: ModelProcess, grace: float = 30.0) -> None:
        process.stop(grace=grace)
        self.children.discard(process)

    def start_serving(self, plan: ServingPlan) -> ModelProcess | None:
        """A new server for `plan`, ready (adapter loaded), or None if it would not start."""
        process = self.new_process(plan)
        process.start()
        if not process.wait_ready(settings.SERVING_START_TIMEOUT, stop=self.stopping):
            if self.stopping.is_set():
                logger.info("stopping: the server for %s was still starting", plan.name)
            else:
                logger.error("the server for %s did not become ready; see %s", plan.name, process.log_path)
            self.stop_process(process, grace=STOP_GRACE)
            return None
        if plan.adapter_path:
            try:
                process.load_adapter(plan.version, plan.adapter_path)
            except (RuntimeError, requests.RequestException):
                logger.exception("the adapter of %s could not be loaded", plan.version)
                self.stop_process(process, grace=STOP_GRACE)
                return None
        return process

    def switch_to(self, plan: ServingPlan) -> None:
        current = self.current
        if current and current.alive() and plan.adapter_path and current.plan.model_path == plan.model_path:
            try:
                current.load_adapter(plan.version, plan.adapter_path)  # hot-load: no restart, nothing dropped
            except (RuntimeError, requests.RequestException):
                logger.exception("hot-loading %s failed; starting a server for it instead", plan.version)
            else:
                current.plan = plan
                return
        overlap = serving_device() == "cpu" or settings.VLLM_GPU_MEMORY_UTILIZATION <= 0.5
        if current and not overlap:
            # one GPU cannot hold both: stop first (clients retry, grading waits and retries)
            self.drain_and_stop(current)
            current = self.current = self.board.target = None
        new = self.start_serving(plan)
        if new is None:
            return  # keep serving what was served; tried again on the next look
        self.current = self.board.target = new
        logger.info("now serving %s", plan.version)
        if current:
            self.drain_and_stop(current)
            new.spread()

    def drain_and_stop(self, process: ModelProcess) -> None:
        """Stop a server once no request is running or waiting in it (or after SERVING_DRAIN_SECONDS)."""
        deadline = time.monotonic() + settings.SERVING_DRAIN_SECONDS
        while time.monotonic() < deadline and process.alive() and process.busy() != 0:
            if self.stopping.wait(0.5):
                break  # the supervisor is stopping: it stops every child itself
        self.board.close_connections(process.port)
        self.stop_process(process, grace=STOP_GRACE if self.stopping.is_set() else 30.0)

    def watch(self) -> None:
        """Every SERVING_POLL_SECONDS: switch when the active version changed, restart a dead server."""
        while not self.stopping.is_set():
            try:
                plan = self.wanted()
                if plan is None:
                    logger.warning("no model version to serve yet")
                elif self.current is None or not self.current.alive():
                    if self.current is not None:
                        self.restarts += 1
                        logger.error("the server for %s stopped; starting it again", self.current.plan.name)
                        self.board.target = None
                        self.stop_process(self.current, grace=0)  # what is left of it (its engine, its pipe)
                    self.current = None
                    self.switch_to(plan)
                elif self.current.plan != plan:
                    self.switch_to(plan)
            except Exception:  # the watcher must outlive any one failure
                logger.exception("serving supervisor: check failed")
            self.stopping.wait(settings.SERVING_POLL_SECONDS)

    async def serve(self) -> None:
        loop = self.board.loop = asyncio.get_running_loop()
        if threading.current_thread() is threading.main_thread():
            # before any child exists: a stop at any stage from here on goes through stop_children
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, self._stop.set)
        server = await asyncio.start_server(self.board.handle, self.host, self.port, reuse_address=True)
        logger.info("model server supervisor listening on %s:%s", self.host, self.port)
        watcher = threading.Thread(target=self.watch, name="serving-watch", daemon=True)
        watcher.start()
        try:
            async with server:
                await self._stop.wait()
        finally:
            self.stopping.set()
            # The children first, without waiting for the watcher (it may be waiting on a server that is
            # starting, draining or loading an adapter): a process manager kills this process seconds
            # after SIGTERM, and a child left running would keep its port, memory and cores.
            await asyncio.to_thread(self.stop_children)
            await asyncio.to_thread(watcher.join, STOP_GRACE)
            await asyncio.to_thread(self.stop_children)  # one the watcher was starting meanwhile

    def stop_children(self) -> None:
        children = list(self.children)
        threads = [threading.Thread(target=self.stop_process, args=(child, STOP_GRACE)) for child in children]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def run(self) -> None:
        asyncio.run(self.serve())

    def start_in_thread(self) -> threading.Thread:
        """Serve from a background thread (`shutdown` stops it): for tools and tests in one process."""
        thread = threading.Thread(target=self.run, name="serving", daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while self.board.loop is None and time.monotonic() < deadline:
            time.sleep(0.05)
        return thread

    def shutdown(self) -> None:
        self.stopping.set()
        if self.board.loop is not None:
            self.board.loop.call_soon_threadsafe(self._stop.set)
