"""Reads for tuning: runs as the OpenAI fine-tuning API shows them, checkpoints, loss curves."""

from __future__ import annotations

import json
from pathlib import Path

from tuning.models import ModelVersion, TuningRun


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
        found.append({
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
        })
    return found


def run_loss_points(run: TuningRun) -> list[tuple[int, float]]:
    """(step, loss) from the run's metric events, or from its final metrics."""
    if run.metrics.get("loss_history"):
        return [(int(step), float(loss)) for step, loss in run.metrics["loss_history"]]
    points = []
    for event in run.events.filter(message="progress").only("data"):
        loss = (event.data.get("metrics") or {}).get("loss")
        if loss is not None:
            points.append((int(event.data["step"]), float(loss)))
    return points


def loss_curve_svg(points: list[tuple[int, float]], *, width: int = 480, height: int = 160) -> str:
    """A server-rendered line chart of the loss (no script, no external library)."""
    if len(points) < 2:
        return ""
    steps = [step for step, _ in points]
    losses = [loss for _, loss in points]
    x0, x1 = min(steps), max(steps) or 1
    y0, y1 = min(losses), max(losses)
    span_x, span_y = (x1 - x0) or 1, (y1 - y0) or 1
    coords = " ".join(
        f"{(step - x0) / span_x * (width - 40) + 35:.1f},{height - 20 - (loss - y0) / span_y * (height - 30):.1f}"
        for step, loss in points
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" aria-label="loss">'
        f'<polyline fill="none" stroke="#8250df" stroke-width="2" points="{coords}"/>'
        f'<text x="0" y="12" font-size="10">{y1:.3g}</text><text x="0" y="{height - 20}" font-size="10">{y0:.3g}</text>'
        f'<text x="35" y="{height - 4}" font-size="10">step {x0}</text>'
        f'<text x="{width - 60}" y="{height - 4}" font-size="10">step {x1}</text></svg>'
    )


def version_comparison() -> list[dict]:
    rows = []
    for version in ModelVersion.objects.order_by("-created_at"):
        evaluation = version.metrics.get("eval") or {}
        rows.append({
            "version": version, "accuracy": evaluation.get("answer_accuracy"),
            "fidelity": evaluation.get("explanation_rouge_l"), "n": evaluation.get("n"),
        })
    return rows
