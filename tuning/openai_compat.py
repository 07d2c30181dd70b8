"""OpenAI's fine-tuning vocabulary translated to this project's runs, and back.

What a client sends to /v1/fine_tuning/jobs becomes `run_create`'s arguments here, and a run becomes the
`fine_tuning.job` the official client validates. Three words need a meaning in this project:

- `training_file`: a file id naming a slice of the question bank, `bank:<split>` or
  `bank:<split>:<subject path>` (`bank:train`, `bank:all`, `bank:train:数学/四则运算`). The split is the
  bank's own (`train`, or `all`; the held-out `val` and `test` questions are never trained on); the
  subject takes its descendants too. It is what `manage.py export_dataset --split --subject` writes.
- `method`: OpenAI's object; only `{"type": "supervised"}` is served (dpo and reinforcement are refused).
  `finetuning_type` beside `type` is this project's extension: `lora` (the default), `freeze` or `full`.
- `hyperparameters` (in `method.supervised`): OpenAI's `n_epochs`, `batch_size` and
  `learning_rate_multiplier` ("auto" or absent: the preset's), and any training knob a person may set
  (`TuningConfig.settable()`, e.g. `lora_rank`) by its own name. Anything else is refused.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from core.exceptions import ApplicationError
from tuning.models import RunStatus, TuningRun
from tuning.selectors import subject_exists
from tuning.training.config import METHODS, TuningConfig, preset

ORGANIZATION_ID = "org-quizsite"
TRAINING_SPLITS = ("train", "all")
OPENAI_HYPERPARAMETERS = ("n_epochs", "batch_size", "learning_rate_multiplier")
STATUS = {
    RunStatus.VALIDATING: "validating_files",
    RunStatus.QUEUED: "queued",
    RunStatus.RUNNING: "running",
    RunStatus.SUCCEEDED: "succeeded",
    RunStatus.FAILED: "failed",
    RunStatus.CANCELLED: "cancelled",
}


def _refuse(message: str, param: str) -> ApplicationError:
    return ApplicationError(message, extra={"code": "invalid_request", "param": param})


@dataclass(frozen=True)
class TrainingFile:
    split: str
    subject: str = ""

    @property
    def id(self) -> str:
        return f"bank:{self.split}:{self.subject}" if self.subject else f"bank:{self.split}"


def training_file_parse(value: str) -> TrainingFile:
    """`bank:<split>[:<subject path>]` → the split and subject `run_create` reads the bank by."""
    source, _, rest = value.partition(":")
    split, _, subject = rest.partition(":")
    if source != "bank" or split not in TRAINING_SPLITS:
        raise _refuse(
            f"training_file {value!r} is not a bank export: expected bank:train, bank:all or "
            "bank:<split>:<subject path> (e.g. bank:train:数学)",
            "training_file",
        )
    source = TrainingFile(split=split, subject=subject.strip().strip("/"))
    if source.subject and not subject_exists(source.subject):
        raise _refuse(f"training_file {value!r}: no subject {source.subject!r} in the bank", "training_file")
    return source


def run_training_file(run: TuningRun) -> str:
    return TrainingFile(split=run.split, subject=run.subject).id


@dataclass(frozen=True)
class MethodChoice:
    finetuning_type: str = "lora"
    overrides: dict[str, Any] = field(default_factory=dict)


def method_parse(method: dict | None, hyperparameters: dict | None = None) -> MethodChoice:
    """OpenAI's `method` (and the older top-level `hyperparameters`) → the run's method and overrides."""
    method = method or {"type": "supervised"}
    if method.get("type") != "supervised":
        raise _refuse(
            f"method.type {method.get('type')!r} is not served: only 'supervised' "
            "(with finetuning_type lora, freeze or full)",
            "method.type",
        )
    finetuning_type = method.get("finetuning_type") or "lora"
    if finetuning_type not in METHODS:
        raise _refuse(
            f"method.finetuning_type {finetuning_type!r}: expected one of {', '.join(METHODS)}",
            "method.finetuning_type",
        )
    supervised = method.get("supervised") or {}
    nested = supervised.get("hyperparameters") or {}
    if nested and hyperparameters:
        raise _refuse("give hyperparameters in method.supervised.hyperparameters only", "hyperparameters")
    overrides = hyperparameter_overrides(nested or hyperparameters or {}, method=finetuning_type)
    return MethodChoice(finetuning_type=finetuning_type, overrides=overrides)


def base_learning_rate(method: str) -> float:
    """What `learning_rate_multiplier` multiplies: the method's preset learning rate."""
    return float(preset(method, dataset_size=0)["learning_rate"])


def hyperparameter_overrides(values: dict, *, method: str) -> dict[str, Any]:
    """OpenAI's hyperparameters and our knobs → `run_create`'s overrides; unknown names are refused."""
    settable = TuningConfig.settable()
    param = "method.supervised.hyperparameters"
    overrides: dict[str, Any] = {}
    for key, value in values.items():
        if key in OPENAI_HYPERPARAMETERS:
            continue
        if key not in settable:
            raise _refuse(
                f"unknown hyperparameter {key!r}: expected {', '.join(OPENAI_HYPERPARAMETERS)} or a training "
                f"knob ({', '.join(sorted(settable))})",
                f"{param}.{key}",
            )
        overrides[key] = value
    for ours, theirs in (
        ("num_train_epochs", "n_epochs"),
        ("per_device_train_batch_size", "batch_size"),
        ("gradient_accumulation_steps", "batch_size"),
        ("learning_rate", "learning_rate_multiplier"),
    ):
        if values.get(theirs, "auto") != "auto" and ours in overrides:
            raise _refuse(f"give {theirs} or {ours}, not both", f"{param}.{theirs}")
    n_epochs = values.get("n_epochs", "auto")
    if n_epochs != "auto":
        overrides["num_train_epochs"] = float(_positive(n_epochs, "n_epochs", int))
    batch_size = values.get("batch_size", "auto")
    if batch_size != "auto":
        # the preset's device batch is 2: an even batch keeps it, an odd one is accumulated one by one
        batch = _positive(batch_size, "batch_size", int)
        per_device = math.gcd(batch, 2)
        overrides["per_device_train_batch_size"] = per_device
        overrides["gradient_accumulation_steps"] = batch // per_device
    multiplier = values.get("learning_rate_multiplier", "auto")
    if multiplier != "auto":
        overrides["learning_rate"] = _positive(multiplier, "learning_rate_multiplier", float) * base_learning_rate(
            method
        )
    return overrides


def _positive(value: Any, name: str, kind: type) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0 or kind(value) != value:
        raise _refuse(
            f"{name} must be 'auto' or a positive {kind.__name__}, not {value!r}",
            f"method.supervised.hyperparameters.{name}",
        )
    return kind(value)


def job_hyperparameters(run: TuningRun) -> dict[str, Any]:
    """OpenAI's three (as the run was configured) and every settable knob by its own name."""
    config = run.config or {}
    knobs = {key: config[key] for key in sorted(TuningConfig.settable()) if key in config}
    epochs = config.get("num_train_epochs")
    batch = config.get("per_device_train_batch_size", 0) * config.get("gradient_accumulation_steps", 0)
    learning_rate = config.get("learning_rate")
    return {
        "n_epochs": int(epochs) if epochs is not None and float(epochs).is_integer() else None,
        "batch_size": batch or None,
        "learning_rate_multiplier": (
            round(learning_rate / base_learning_rate(run.method), 6)
            if learning_rate and run.method in METHODS
            else None
        ),
        **knobs,
    }


# an absolute path in a message: a slash not after a word character, then two or more components
ABSOLUTE_PATH = re.compile(r"(?<![\w.:/])/(?:[\w.\-]+/)+([\w.\-]+)")


def public_text(text: str) -> str:
    """A message without the server's directories: each absolute path becomes its last component."""
    return ABSOLUTE_PATH.sub(r"\1", text)
