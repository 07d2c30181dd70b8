"""Every training knob in one validated dataclass (LLaMA-Factory's names where they exist).

Torch-free on purpose: the web process validates a config before a run is queued.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

METHODS = ("lora", "freeze", "full")
STAGES = ("sft", "pt")


class ConfigError(ValueError):
    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


@dataclass
class TuningConfig:
    model_name_or_path: str = field(metadata={"help": "base model directory (Hugging Face format)"})
    dataset_path: str = field(metadata={"help": "instruction data: JSON list of {instruction, input, output}"})
    output_dir: str = field(metadata={"help": "where checkpoints and the merged model are written"})
    stage: str = field(default="sft", metadata={"help": "sft: loss on answers only; pt: continued pre-training"})
    finetuning_type: str = field(default="lora", metadata={"help": "lora | freeze | full"})
    lora_rank: int = field(default=8, metadata={"help": "8 for simple tasks, >=16 for complex ones"})
    lora_alpha: int = field(default=16, metadata={"help": "an integer multiple of lora_rank (rank 8 -> 16)"})
    lora_dropout: float = field(default=0.05, metadata={"help": "0.3 for small data, ~0 for large"})
    lora_target: str = field(default="all", metadata={"help": "'all' linear layers or comma-separated names"})
    freeze_trainable_layers: int = field(default=2, metadata={"help": "freeze: train the last N layers"})
    learning_rate: float = field(default=2e-4, metadata={"help": "LoRA 1e-5..5e-4; full 1e-6..5e-5; freeze ~5e-5"})
    per_device_train_batch_size: int = field(default=2)
    gradient_accumulation_steps: int = field(default=8)
    num_train_epochs: float = field(default=3.0)
    cutoff_len: int = field(default=1024, metadata={"help": "longer examples are truncated"})
    val_size: float = field(default=0.0, metadata={"help": "fraction held out for validation loss"})
    bf16: bool = False
    fp16: bool = False
    seed: int = 42
    logging_steps: int = 5
    save_steps: int = 0
    warmup_ratio: float = 0.0
    weight_decay: float = 0.0
    stop_at_loss: float = field(default=0.0, metadata={"help": "stop once the mean training loss falls below this"})

    @classmethod
    def from_dict(cls, data: dict) -> TuningConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError([f"unknown setting(s): {', '.join(unknown)}"])
        return cls(**data)

    def to_dict(self) -> dict:
        return asdict(self)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False))


def validate(config: TuningConfig) -> TuningConfig:
    """All value ranges and cross-field rules, before any model is loaded."""
    problems: list[str] = []
    if config.stage not in STAGES:
        problems.append(f"stage must be one of {STAGES}, not {config.stage!r}")
    if config.finetuning_type not in METHODS:
        problems.append(f"finetuning_type must be one of {METHODS}, not {config.finetuning_type!r}")
    if config.finetuning_type == "lora":
        if not 1 <= config.lora_rank <= 256:
            problems.append(f"lora_rank {config.lora_rank} is outside 1..256 (8 for simple tasks, >=16 for complex)")
        if config.lora_alpha <= 0 or config.lora_alpha % config.lora_rank:
            problems.append(
                f"lora_alpha {config.lora_alpha} should be an integer multiple of lora_rank {config.lora_rank} "
                f"(e.g. rank 8 -> alpha 16)"
            )
        if not 0 <= config.lora_dropout < 1:
            problems.append(f"lora_dropout {config.lora_dropout} is outside [0, 1) (0.3 for small data, ~0 for large)")
    if not 0 < config.learning_rate <= 1e-2:
        problems.append(f"learning_rate {config.learning_rate} is outside (0, 1e-2]")
    if config.per_device_train_batch_size < 1 or config.gradient_accumulation_steps < 1:
        problems.append("per_device_train_batch_size and gradient_accumulation_steps must be at least 1")
    if not 0 < config.num_train_epochs <= 1000:
        problems.append(f"num_train_epochs {config.num_train_epochs} is outside (0, 1000]")
    if config.cutoff_len < 16:
        problems.append(f"cutoff_len {config.cutoff_len} is below 16 tokens")
    if not 0 <= config.val_size < 0.5:
        problems.append(f"val_size {config.val_size} is outside [0, 0.5)")
    if config.bf16 and config.fp16:
        problems.append("choose one of bf16 and fp16")
    if config.freeze_trainable_layers < 1:
        problems.append("freeze_trainable_layers must be at least 1")
    if problems:
        raise ConfigError(problems)
    return config


def preset(method: str, *, dataset_size: int, memorise: bool = False) -> dict:
    """Recommended settings for a method and a dataset size (the seed's guidance).

    `memorise` is the demo's setting: a tiny model trained from random weights until it
    reproduces its small bank, which needs a far higher learning rate than a real checkpoint.
    """
    small = dataset_size < 1000
    if method == "lora":
        values = {
            "finetuning_type": "lora",
            "lora_rank": 8 if small else 16,
            "lora_alpha": 16 if small else 32,
            "lora_dropout": 0.3 if small else 0.05,
            "learning_rate": 2e-4,
            "num_train_epochs": 3.0,
        }
    elif method == "freeze":
        values = {"finetuning_type": "freeze", "learning_rate": 5e-5, "num_train_epochs": 4.0}
    elif method == "full":
        values = {"finetuning_type": "full", "learning_rate": 1e-5, "num_train_epochs": 5.0}
    else:
        raise ConfigError([f"unknown method {method!r}; expected one of {METHODS}"])
    values |= {"per_device_train_batch_size": 2, "gradient_accumulation_steps": 8}
    if memorise:
        # measured on the 100-question demo bank: full, 2e-3 cosine, ~45 epochs to loss 0.01
        values |= {
            "learning_rate": 2e-3 if method == "full" else 1e-2 if method == "lora" else 5e-3,
            "lora_rank": 64,
            "lora_alpha": 128,
            "lora_dropout": 0.0,
            "per_device_train_batch_size": 8,
            "gradient_accumulation_steps": 1,
            "num_train_epochs": 60.0,
            "stop_at_loss": 0.01,
            "warmup_ratio": 0.02,
            "logging_steps": 10,
        }
    return values
