"""What to serve for a model version: merged weights, or a LoRA version's base and its adapter."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import close_old_connections

from inference.engines import active_version

if TYPE_CHECKING:
    from tuning.models import ModelVersion


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


def adapter_of(version: ModelVersion) -> tuple[Path, Path] | None:
    """(adapter dir, the base weights it was trained on) for a LoRA version whose adapter was kept."""
    if version.method != "lora":
        return None
    adapter = Path(version.path).parent / "adapter"
    try:
        base = json.loads((adapter / "adapter_config.json").read_text())["base_model_name_or_path"]
    except (OSError, ValueError, KeyError):
        return None
    return (adapter, Path(base)) if Path(base).is_dir() else None


def serving_plan(version: ModelVersion) -> ServingPlan:
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
    close_old_connections()  # the supervisor's thread holds its connection for days
    version = active_version()
    return serving_plan(version) if version else None
