"""Trainer callbacks: throttled progress reports, graceful cancel, stop once learnt."""

from __future__ import annotations

import time
from collections.abc import Callable

from transformers import TrainerCallback


class ProgressCallback(TrainerCallback):
    """Reports progress and metrics through `report(event)`, at most every `min_interval` seconds."""

    def __init__(self, report: Callable[[dict], None], *, min_interval: float = 2.0, should_cancel=None):
        self.report = report
        self.min_interval = min_interval
        self.should_cancel = should_cancel
        self._last = 0.0

    def on_log(self, args, state, control, logs=None, **kwargs):
        now = time.monotonic()
        # an evaluation is rare and is the only point of the validation curve: never thinned out
        if now - self._last < self.min_interval and "eval_loss" not in (logs or {}):
            return
        self._last = now
        self.report(
            {
                "step": state.global_step,
                "max_steps": state.max_steps,
                "epoch": state.epoch,
                "metrics": {k: v for k, v in (logs or {}).items() if isinstance(v, int | float)},
            }
        )

    def on_save(self, args, state, control, **kwargs):
        self.report({"message": f"checkpoint-{state.global_step} saved", "step": state.global_step})

    def on_step_end(self, args, state, control, **kwargs):
        if self.should_cancel is not None and self.should_cancel():
            control.should_training_stop = True
            control.should_save = True


class StopAtLossCallback(TrainerCallback):
    """Ends training once the logged training loss falls below `threshold` (the model has learnt the bank)."""

    def __init__(self, threshold: float):
        self.threshold = threshold

    def on_log(self, args, state, control, logs=None, **kwargs):
        loss = (logs or {}).get("loss")
        if self.threshold and loss is not None and loss < self.threshold:
            control.should_training_stop = True
