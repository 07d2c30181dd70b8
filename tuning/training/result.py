"""What a training run hands back, from one process or from several (tuning.training.launch)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class TrainingResult:
    model_dir: Path
    metrics: dict
    resumed_from: str | None = None
