"""Reads for tuning: runs as the OpenAI fine-tuning API shows them, their progress, checkpoints, loss curves."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from django.utils import timezone
from django.utils.html import escape
from django.utils.translation import gettext as _

from quizbank.models import Subject
from quizbank.selectors.explanations import explanation_progress
from tuning.models import ComputeWorker, ModelVersion, RunEvent, RunStatus, TuningRun
from tuning.progress import seconds_left, tokens_per_second


def runs_page(*, after: int | None = None, limit: int = 20) -> tuple[list[TuningRun], bool]:
    """The newest runs older than run `after` (all when None), at most `limit`, and whether more follow."""
    runs = TuningRun.objects.select_related("base_version", "output_version").order_by("-id")
    if after is not None:
        runs = runs.filter(pk__lt=after)
    found = list(runs[: limit + 1])
    return found[:limit], len(found) > limit


def run_events_page(run: TuningRun, *, after: int | None = None, limit: int = 20) -> tuple[list[RunEvent], bool]:
    """A run's events, newest first, older than event `after`, at most `limit`, and whether more follow."""
    events = run.events.order_by("-id")
    if after is not None:
        events = events.filter(pk__lt=after)
    found = list(events[: limit + 1])
    return found[:limit], len(found) > limit


def subject_exists(path: str) -> bool:
    return Subject.objects.filter(path=path.strip().strip("/")).exists()


def run_checkpoints(run: TuningRun) -> list[dict]:
    """Saved checkpoints of a run with the metrics logged up to each."""
    folder = Path(run.config.get("output_dir", "")) / "checkpoints"
    found = []
    for path in sorted(folder.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1])):
        state_file = path / "trainer_state.json"
        if not state_file.exists():
            continue
        state = json.loads(state_file.read_text())
        losses = [entry for entry in state.get("log_history", []) if "loss" in entry]
        evals = [entry for entry in state.get("log_history", []) if "eval_loss" in entry]
        found.append(
            {
                "object": "fine_tuning.job.checkpoint",
                "id": f"ftckpt-{run.pk}-{state.get('global_step')}",
                "fine_tuning_job_id": f"ftjob-{run.pk}",
                "step_number": state.get("global_step"),
                "metrics": {
                    "train_loss": losses[-1]["loss"] if losses else None,
                    "valid_loss": evals[-1]["eval_loss"] if evals else None,
                    "epoch": state.get("epoch"),
                },
                "path": str(path),
                "created_at": int(state_file.stat().st_mtime),
            }
        )
    return found


def run_loss_points(run: TuningRun) -> dict[str, list[tuple[int, float]]]:
    """Training and validation loss by step: while the run trains (and when it failed) the points its
    progress reports left, once it has ended the whole history the trainer logged."""
    points = run.metrics.get("loss_points")
    train = points["train"] if points else run.metrics.get("loss_history", [])
    evaluation = points["eval"] if points else run.metrics.get("eval_loss_history", [])
    return {
        "train": [(int(step), float(loss)) for step, loss in train],
        "eval": [(int(step), float(loss)) for step, loss in evaluation],
    }


def run_progress(run: TuningRun, *, now: datetime | None = None) -> dict:
    """Where the run is: step of max_steps, tokens per second and seconds left at the recent rate,
    the latest losses. A run that has ended has no rate and nothing left; its steps are the final ones."""
    reported = run.metrics.get("progress") or {}
    running = run.status == RunStatus.RUNNING
    moment = (now or timezone.now()).timestamp()
    return {
        "step": reported.get("step", run.metrics.get("steps")),
        "max_steps": reported.get("max_steps", run.metrics.get("max_steps")),
        "epoch": reported.get("epoch", run.metrics.get("epochs")),
        "loss": reported.get("loss", run.metrics.get("final_logged_loss")),
        "eval_loss": reported.get("eval_loss", run.metrics.get("best_eval_loss")),
        "tokens_per_second": tokens_per_second(reported) if running else None,
        "seconds_left": seconds_left(reported, now=moment) if running else None,
        "updated_at": reported.get("updated_at"),
    }


COLOURS = {"train": "#8250df", "eval": "#1a7f37"}


def loss_curve_svg(series: dict[str, list[tuple[int, float]]], *, width: int = 480, height: int = 160) -> str:
    """A server-rendered line chart of the losses (no script, no external library), labelled in the
    active language."""
    points = [point for values in series.values() for point in values]
    if len(series.get("train", [])) < 2:
        return ""
    steps = [step for step, _ in points]
    losses = [loss for _, loss in points]
    x0, x1 = min(steps), max(steps)
    y0, y1 = min(losses), max(losses)
    span_x, span_y = (x1 - x0) or 1, (y1 - y0) or 1

    def coords(values):
        return " ".join(
            f"{(step - x0) / span_x * (width - 40) + 35:.1f},{height - 20 - (loss - y0) / span_y * (height - 30):.1f}"
            for step, loss in values
        )

    labels = {"train": escape(_("train")), "eval": escape(_("validation"))}
    step, title = escape(_("step")), escape(_("Loss curves"))
    lines = "".join(
        f'<polyline fill="none" stroke="{COLOURS[name]}" stroke-width="2" points="{coords(values)}"><title>'
        f"{labels[name]}</title></polyline>"
        for name, values in series.items()
        if values
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        f'aria-label="{title}">{lines}'
        f'<text x="0" y="12" font-size="10">{y1:.3g}</text><text x="0" y="{height - 20}" font-size="10">{y0:.3g}</text>'
        f'<text x="35" y="{height - 4}" font-size="10">{step} {x0}</text>'
        f'<text x="{width - 60}" y="{height - 4}" font-size="10">{step} {x1}</text>'
        f'<text x="{width - 120}" y="12" font-size="10" fill="{COLOURS["train"]}">{labels["train"]}</text>'
        f'<text x="{width - 80}" y="12" font-size="10" fill="{COLOURS["eval"]}">{labels["eval"]}</text></svg>'
    )


def version_comparison() -> list[dict]:
    versions = list(ModelVersion.objects.order_by("-created_at"))
    # how far each version has explained the bank (the review pages show these explanations)
    explained = explanation_progress(version_names=[version.name for version in versions])
    rows = []
    for version in versions:
        # the scores inference keeps on the version: its suites' headline figures (the model report has more)
        suites = version.metrics.get("suites") or {}
        heldout, grading = suites.get("bank-heldout") or {}, suites.get("grading-heldout") or {}
        rows.append(
            {
                "version": version,
                "accuracy": heldout.get("answer_accuracy"),
                "fidelity": heldout.get("explanation_fidelity"),
                "n": heldout.get("n"),
                "trained_accuracy": (suites.get("bank-trained") or {}).get("answer_accuracy"),
                # agreement with teachers' grades on held-out answers (grading QWK), when there were any
                "grading_qwk": grading.get("grading_qwk"),
                "grading_n": grading.get("n") or 0,
                "explanations": explained[version.name],
            }
        )
    return rows


# --- compute: pools and their workers (tuning/compute.py keeps them) -----------------------------


def worker_is_live(worker: ComputeWorker, *, now: datetime | None = None) -> bool:
    from tuning.compute import GONE_SECONDS

    now = now or timezone.now()
    return (
        not worker.stopped
        and worker.last_seen is not None
        and (now - worker.last_seen).total_seconds() <= (GONE_SECONDS)
    )


def pool_workers(pool: str, *, live: bool = True) -> list[ComputeWorker]:
    """The workers of a pool (only the live ones when `live`)."""
    workers = list(ComputeWorker.objects.filter(pool=pool).select_related("run"))
    return [worker for worker in workers if worker_is_live(worker)] if live else workers


def compute_pools() -> list[dict]:
    """Each pool known by its workers (the default pool always), with its workers, devices and runs."""
    from tuning.compute import DEFAULT_POOL, pool_queue

    now = timezone.now()
    pools: dict[str, list[dict]] = {DEFAULT_POOL: []}
    for worker in ComputeWorker.objects.select_related("run").order_by("pool", "name"):
        live = worker_is_live(worker, now=now)
        busy = live and worker.run is not None and worker.run.status == RunStatus.RUNNING
        pools.setdefault(worker.pool, []).append(
            {
                "name": worker.name,
                "host": worker.host,
                "state": ("busy" if busy else "idle") if live else "gone",
                "run": worker.run_id if busy else None,
                "device_type": worker.device_type,
                "device_name": worker.device_name,
                "devices": worker.device_count,
                "memory_per_device_gb": worker.memory_per_device_gb,
                "bf16": worker.bf16,
                "bitsandbytes": worker.bitsandbytes,
                "cpu_cores": worker.cpu_cores,
                "ram_gb": worker.ram_gb,
                "last_seen": worker.last_seen.isoformat() if worker.last_seen else None,
                "seconds_since_seen": round((now - worker.last_seen).total_seconds()) if worker.last_seen else None,
            }
        )
    return [
        {
            "pool": pool,
            "queue": pool_queue(pool),
            "live_workers": sum(1 for worker in workers if worker["state"] != "gone"),
            "busy_workers": sum(1 for worker in workers if worker["state"] == "busy"),
            "workers": workers,
        }
        for pool, workers in sorted(pools.items())
    ]
