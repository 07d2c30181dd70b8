"""A run on several devices, started by the tuning worker: torchrun with one process per device.

The worker keeps the database and the processes only train (`tuning.training.distributed`). Rank 0
appends its progress reports to `events.jsonl` in the run's directory; the worker reads them and
hands each to `report`, as one process would. The worker polls the run's cancel flag and, once it is
set, creates `stop`, which the ranks see after the same step: they save a checkpoint and end. The
processes form one process group that the worker owns: however the run ends (done, failed, cancelled,
the worker interrupted), none of them outlives it.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil

from core.ports import free_port
from tuning.training.config import TuningConfig, validate
from tuning.training.hardware import detect_hardware
from tuning.training.result import TrainingResult

REPO = Path(__file__).resolve().parents[2]
# Time a cancelled run has to stop after its step, save its checkpoint and its partial model, before
# its processes are killed.
CANCEL_GRACE = 300.0
# How often the worker reads the events and asks the database whether the run was cancelled.
POLL_SECONDS = 0.5
CANCEL_POLL_SECONDS = 2.0


@dataclass(frozen=True)
class RankFiles:
    """What the worker and rank 0 exchange, in the run's directory."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "tuning_config.json"

    @property
    def events(self) -> Path:
        return self.root / "events.jsonl"

    @property
    def stop(self) -> Path:
        return self.root / "stop"

    @property
    def result(self) -> Path:
        return self.root / "result.json"

    @property
    def log(self) -> Path:
        return self.root / "processes.log"

    def reset(self) -> None:
        """A new attempt starts without the last one's events, stop or result."""
        for path in (self.events, self.stop, self.result):
            path.unlink(missing_ok=True)


def run_on_devices(
    config: TuningConfig,
    *,
    report: Callable[[dict], None],
    should_cancel: Callable[[], bool] | None = None,
    resume: bool = False,
    cancel_grace: float = CANCEL_GRACE,
) -> TrainingResult:
    # refused here, before any process starts: more devices than this worker has, a global batch
    # that does not divide among them
    hardware = detect_hardware()
    validate(config, hardware=hardware)
    files = RankFiles(Path(config.output_dir))
    files.root.mkdir(parents=True, exist_ok=True)
    files.reset()
    config.save(files.config)
    backend = "NCCL" if hardware.cuda else "gloo (CPU)"
    report({"message": f"training on {config.devices} processes: DDP over {backend}"})
    group = ProcessGroup.start(torchrun_command(config, files, resume=resume), log=files.log)
    cancelled = False
    try:
        cancelled = _follow(group, files, report=report, should_cancel=should_cancel, cancel_grace=cancel_grace)
    finally:
        group.stop()  # nothing outlives the run, also when the worker is interrupted here
    if files.result.is_file():
        written = json.loads(files.result.read_text(encoding="utf-8"))
        return TrainingResult(
            model_dir=Path(written["model_dir"]), metrics=written["metrics"], resumed_from=written["resumed_from"]
        )
    if cancelled:  # killed before it could write its result: what it did is in its last checkpoint
        return TrainingResult(model_dir=files.root / "model", metrics={})
    raise RuntimeError(
        f"the {config.devices} training processes ended with exit status {group.returncode}: {group.log_tail()}"
    )


def _follow(
    group: ProcessGroup,
    files: RankFiles,
    *,
    report: Callable[[dict], None],
    should_cancel: Callable[[], bool] | None,
    cancel_grace: float,
) -> bool:
    """Relay rank 0's events until the processes end; True if the run was cancelled."""
    events = EventReader(files.events)
    cancelled_at: float | None = None
    asked_at = 0.0
    while group.poll() is None:
        for event in events.read():
            report(event)
        now = time.monotonic()
        if cancelled_at is None and should_cancel is not None and now - asked_at >= CANCEL_POLL_SECONDS:
            asked_at = now
            if should_cancel():
                files.stop.touch()
                cancelled_at = now
        if cancelled_at is not None and now - cancelled_at > cancel_grace:
            break
        time.sleep(POLL_SECONDS)
    for event in events.read():
        report(event)
    return cancelled_at is not None


class EventReader:
    """The complete lines rank 0 has appended since the last read."""

    def __init__(self, path: Path):
        self.path = path
        self.offset = 0

    def read(self) -> list[dict]:
        if not self.path.is_file():
            return []
        with self.path.open("rb") as file:
            file.seek(self.offset)
            chunk = file.read()
        complete = chunk[: chunk.rfind(b"\n") + 1]
        self.offset += len(complete)
        return [json.loads(line) for line in complete.splitlines() if line.strip()]


def torchrun_command(config: TuningConfig, files: RankFiles, *, resume: bool) -> list[str]:
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nnodes=1",
        f"--nproc-per-node={config.devices}",
        "--master-addr=127.0.0.1",
        f"--master-port={free_port()}",
        "-m",
        "tuning.training.rank",
        f"--config={files.config}",
        f"--events={files.events}",
        f"--stop={files.stop}",
        f"--result={files.result}",
        *(["--resume"] if resume else []),
    ]


def rank_environment() -> dict[str, str]:
    """One thread per rank: each rank has its core (two ranks of two threads each on two cores spend
    their time waiting for each other). Ranks are not pinned: torch's import probes every core by
    moving the process, and a rank moved onto a core another spins on can starve."""
    return {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH", "")])),
    }


def _die_with_parent() -> None:
    """In torchrun, before it starts: the kernel ends it if the worker dies (SIGKILL included), and
    torchrun ends its ranks when it is ended."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass  # not Linux: the worker's own stop() is the guard


class ProcessGroup:
    """A command in a session and process group of its own, with everything it starts."""

    def __init__(self, process: subprocess.Popen, log: Path):
        self.process = process
        self.log = log

    @classmethod
    def start(cls, command: list[str], *, log: Path, env: dict[str, str] | None = None) -> ProcessGroup:
        with log.open("ab") as output:
            process = subprocess.Popen(
                command,
                cwd=REPO,
                env=env if env is not None else rank_environment(),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        return cls(process, log)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def returncode(self) -> int | None:
        return self.process.returncode

    def poll(self) -> int | None:
        return self.process.poll()

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM to the group (torchrun passes it to its ranks), SIGKILL to what is left after `grace`."""
        try:
            members = psutil.Process(self.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            members = []
        self._signal_group(signal.SIGTERM)
        try:
            self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
        _, alive = psutil.wait_procs(members, timeout=max(0.0, grace))
        self._signal_group(signal.SIGKILL)
        for member in alive:  # one that left the group
            try:
                member.kill()
            except psutil.NoSuchProcess:
                pass
        self.process.wait()
        psutil.wait_procs(alive, timeout=5)

    def _signal_group(self, signum: int) -> None:
        try:
            os.killpg(self.pid, signum)
        except (ProcessLookupError, PermissionError):
            pass  # the group has ended

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])
