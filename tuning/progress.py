"""A run's progress while it trains, kept on the run rather than as events.

The trainer reports a tick every few seconds (tuning/training/callbacks.py:ProgressCallback). The
latest one, with the last few (time, step, tokens) samples the step rate and the time left are
measured over, is `metrics["progress"]`; the train and validation losses by step, for the curves, are
`metrics["loss_points"]`. Pure Python: the worker writes them (tuning.services.run_execute), the
pages and the API read them (tuning.selectors).
"""

from __future__ import annotations

# Ticks the step rate is measured over: recent enough to follow a change of speed (an evaluation, a
# longer batch), long enough not to jump with each one.
RATE_WINDOW = 10
# Points kept per curve; past it every other older point goes, so the curve keeps its whole shape.
MAX_LOSS_POINTS = 400


def progress_record(metrics: dict, tick: dict, *, at: float) -> dict:
    """The run's metrics with the trainer's `tick` (step, max_steps, epoch, metrics) taken in at `at`
    (seconds since the epoch)."""
    logged = tick.get("metrics") or {}
    before = metrics.get("progress") or {}
    step = int(tick["step"])
    # a resumed run goes back to its checkpoint's step: samples and points past it are dropped
    recent = [sample for sample in before.get("recent", []) if sample[1] < step]
    recent = [*recent, [round(at, 3), step, logged.get("num_input_tokens_seen")]][-RATE_WINDOW:]
    progress = {
        "step": step,
        "max_steps": tick.get("max_steps") or before.get("max_steps"),
        "epoch": tick.get("epoch"),
        # an evaluation's log carries no training loss and a training log no validation loss: keep the last
        "loss": logged.get("loss", before.get("loss")),
        "eval_loss": logged.get("eval_loss", before.get("eval_loss")),
        "updated_at": round(at, 3),
        "recent": recent,
    }
    points = metrics.get("loss_points") or {"train": [], "eval": []}
    points = {
        "train": _points_add(points.get("train", []), step, logged.get("loss")),
        "eval": _points_add(points.get("eval", []), step, logged.get("eval_loss")),
    }
    return {**metrics, "progress": progress, "loss_points": points}


def progress_restart(metrics: dict) -> dict:
    """The metrics a claimed run starts (or resumes) with: the step rate is measured afresh (the time
    the run waited is no part of it), and a resumed run's curves continue from its earlier losses."""
    restarted = dict(metrics)
    if metrics.get("progress"):
        restarted["progress"] = {**metrics["progress"], "recent": []}
    if not metrics.get("loss_points") and metrics.get("loss_history"):
        restarted["loss_points"] = {
            "train": [list(point) for point in metrics["loss_history"]],
            "eval": [list(point) for point in metrics.get("eval_loss_history", [])],
        }
    return restarted


def _points_add(points: list, step: int, loss: float | None) -> list:
    # points past `step` are from before a resume; one at `step` is replaced by a new loss
    kept = [point for point in points if point[0] < step or (point[0] == step and loss is None)]
    if loss is None:
        return kept
    kept.append([step, float(loss)])
    if len(kept) > MAX_LOSS_POINTS:
        half = len(kept) // 2
        kept = kept[:half:2] + kept[half:]
    return kept


def step_rate(progress: dict) -> float | None:
    """Optimiser steps per second over the recent ticks (None before two of them)."""
    recent = progress.get("recent") or []
    if len(recent) < 2 or recent[-1][0] <= recent[0][0] or recent[-1][1] <= recent[0][1]:
        return None
    return (recent[-1][1] - recent[0][1]) / (recent[-1][0] - recent[0][0])


def tokens_per_second(progress: dict) -> float | None:
    """Training tokens (padding excluded) per second over the recent ticks."""
    recent = [sample for sample in progress.get("recent") or [] if sample[2] is not None]
    if len(recent) < 2 or recent[-1][0] <= recent[0][0]:
        return None
    return (recent[-1][2] - recent[0][2]) / (recent[-1][0] - recent[0][0])


def seconds_left(progress: dict, *, now: float) -> float | None:
    """The time left at the recent step rate, counted from `now` rather than from the last tick."""
    rate, max_steps = step_rate(progress), progress.get("max_steps")
    if not rate or not max_steps:
        return None
    at_last_tick = (max_steps - progress["step"]) / rate
    return max(0.0, at_last_tick - max(0.0, now - progress["updated_at"]))
