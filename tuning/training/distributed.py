"""What a process of a run on several devices knows of its place, and shares with the others.

`tuning.training.launch` starts `config.devices` processes (`tuning.training.rank`) under torchrun;
each runs the same workflow (`run_training`) on its share of every global batch (the trainer's
distributed sampler), with DDP (gloo on CPU, NCCL on GPUs). Rank 0 alone writes: progress reports
as JSON lines to the events file the worker reads, checkpoints' shared files, the merged model and
the result. A cancel reaches the ranks through the stop file the worker creates: rank 0 looks for it
after each step and broadcasts what it saw, so that every rank stops after the same step and saves
the same checkpoint.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import torch
from torch import distributed


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def in_rank() -> bool:
    """Whether this process is one of several training one run (under torchrun)."""
    return world_size() > 1


def is_main() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def training_arguments(config, *, cuda: bool) -> dict:
    """The TrainingArguments of a run on several devices: DDP over gloo on CPU, NCCL on GPUs."""
    if config.devices == 1:
        return {}
    return {"ddp_backend": "nccl" if cuda else "gloo", "ddp_find_unused_parameters": False}


def checkpoint_world_size(checkpoint: Path) -> int | None:
    """How many processes wrote `checkpoint` (each saves its own random state); None if unknown."""
    if (checkpoint / "rng_state.pth").is_file():
        return 1
    return len(list(checkpoint.glob("rng_state_*.pth"))) or None


def shared_stop(stop_file: Path) -> Callable[[], bool]:
    """`should_cancel` for every rank: rank 0's look at the stop file, broadcast (one tiny collective
    per step; every rank asking the database instead would cost a query per rank and step, and ranks
    could see the cancel at different steps and wait for each other forever)."""

    def should_cancel() -> bool:
        flag = torch.tensor([int(is_main() and stop_file.exists())])
        distributed.broadcast(flag, src=0)
        return bool(flag.item())

    return should_cancel


def event_writer(path: Path) -> Callable[[dict], None]:
    """`report` for rank 0: one JSON line per event, flushed at once for the worker to read."""

    def report(event: dict) -> None:
        with path.open("a", encoding="utf-8") as events:
            events.write(json.dumps(event, ensure_ascii=False, default=str) + "\n")

    return report
