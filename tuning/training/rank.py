"""One process of a run on several devices, as torchrun starts it (tuning.training.launch)."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

from torch import distributed as torch_distributed

from tuning.training.config import TuningConfig
from tuning.training.distributed import event_writer, is_main, shared_stop, world_size
from tuning.training.hardware import detect_hardware
from tuning.training.workflow import run_training


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="one process of a run on several devices (started by torchrun)")
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--events", type=Path, required=True)
    parser.add_argument("--stop", type=Path, required=True)
    parser.add_argument("--result", type=Path, required=True)
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args(argv)

    config = TuningConfig.from_dict(json.loads(args.config.read_text(encoding="utf-8")))
    # the worker checked the devices before launching; a process sees itself on one of them
    hardware = detect_hardware()
    hardware = replace(hardware, devices=max(hardware.devices, world_size()))
    report = event_writer(args.events) if is_main() else (lambda event: None)
    result = run_training(
        config, report=report, should_cancel=shared_stop(args.stop), resume=args.resume, hardware=hardware
    )
    if is_main():
        written = {"model_dir": str(result.model_dir), "metrics": result.metrics, "resumed_from": result.resumed_from}
        args.result.write_text(json.dumps(written, default=str), encoding="utf-8")
    if torch_distributed.is_initialized():
        torch_distributed.destroy_process_group()


if __name__ == "__main__":
    main()
