"""Every training knob in one validated dataclass (LLaMA-Factory's names where they exist).

Torch-free on purpose: the web process validates a config before a run is queued; the worker
validates it again with its own hardware (`Hardware`) before any model is loaded.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

METHODS = ("lora", "freeze", "full")
STAGES = ("sft", "pt")

# The seed's guidance, quoted in every message about these settings.
ADVICE = {
    "lora_rank": "LoRA rank 8–64: 8 for simple tasks, 16 or more for complex ones",
    "lora_alpha": "alpha should be an integer multiple of the rank (rank 8 → alpha 16)",
    "lora_dropout": "dropout 0.3 for small data, about 0 for large data",
    "learning_rate": "learning rate 1e-5–5e-4 for LoRA, 1e-6–5e-5 for full fine-tuning, about 5e-5 for freeze",
    "batch": "batch 2 with gradient accumulation 8 (effective 16) when memory is short",
    "epochs": "full fine-tuning 5–10 epochs on millions of samples, early stopping on small data; freeze 3–5 epochs",
    "precision": "bf16/fp16 mixed precision where the hardware supports it",
}
LEARNING_RATE_RANGES = {"lora": (1e-5, 5e-4), "full": (1e-6, 5e-5), "freeze": (1e-5, 1e-4)}
SMALL_DATASET = 1000


class ConfigError(ValueError):
    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


@dataclass(frozen=True)
class Hardware:
    cuda: bool = False
    gpu_memory_gib: float = 0.0
    bf16: bool = False
    bitsandbytes: bool = False
    cpu_memory_gib: float = 0.0
    # what a run's `devices` may use: GPUs where there are, else the cores this worker may run on
    devices: int = 1


@dataclass
class TuningConfig:
    # Paths and the run's identity (system=True) come from the run itself, never from submitted
    # settings: a run told another output_dir would write over another version, and a model_name_or_path
    # that is a hub name would load a model from outside.
    model_name_or_path: str = field(metadata={"help": "base model directory (Hugging Face format)", "system": True})
    dataset_path: str = field(
        metadata={"help": "instruction data: JSON list of {instruction, input, output}", "system": True}
    )
    output_dir: str = field(metadata={"help": "where checkpoints and the merged model are written", "system": True})
    stage: str = field(
        default="sft", metadata={"help": "sft: loss on answers only; pt: continued pre-training", "system": True}
    )
    finetuning_type: str = field(default="lora", metadata={"help": "lora | freeze | full", "system": True})
    lora_rank: int = field(default=8, metadata={"help": ADVICE["lora_rank"]})
    lora_alpha: int = field(default=16, metadata={"help": ADVICE["lora_alpha"]})
    lora_dropout: float = field(default=0.05, metadata={"help": ADVICE["lora_dropout"]})
    lora_target: str = field(default="all", metadata={"help": "'all' linear layers or comma-separated module names"})
    freeze_trainable_layers: int = field(default=2, metadata={"help": "freeze: train the last N layers"})
    freeze_trainable_modules: str = field(
        default="all", metadata={"help": "freeze: 'all' modules of those layers, or names such as 'mlp,self_attn'"}
    )
    learning_rate: float = field(default=2e-4, metadata={"help": ADVICE["learning_rate"]})
    allow_unadvised_learning_rate: bool = field(
        default=False, metadata={"help": "accept a learning rate outside the advised range for the method"}
    )
    devices: int = field(
        default=1,
        metadata={
            "help": "processes the run trains on (GPUs, or CPU cores on a CPU worker); the global batch stays "
            "per_device_train_batch_size × gradient_accumulation_steps, shared among them"
        },
    )
    per_device_train_batch_size: int = field(default=2, metadata={"help": ADVICE["batch"]})
    gradient_accumulation_steps: int = field(default=8, metadata={"help": ADVICE["batch"]})
    num_train_epochs: float = field(default=3.0, metadata={"help": ADVICE["epochs"]})
    cutoff_len: int = field(default=1024, metadata={"help": "tokens; longer examples are truncated"})
    val_size: float = field(default=0.0, metadata={"help": "fraction held out for validation loss and metrics"})
    early_stopping_patience: int = field(
        default=0, metadata={"help": "stop after this many evaluations without a better validation loss (0: off)"}
    )
    bf16: bool = field(default=False, metadata={"help": ADVICE["precision"]})
    fp16: bool = field(default=False, metadata={"help": ADVICE["precision"]})
    quantization_bit: int | None = field(default=None, metadata={"help": "4 for QLoRA (LoRA on CUDA only)"})
    packing: bool = field(default=False, metadata={"help": "pack several examples into one sequence (pt stage)"})
    padding_free: bool = field(
        default=True,
        metadata={"help": "flatten each batch into one sequence without padding; each example attends only to itself"},
    )
    group_by_length: bool = field(
        default=True, metadata={"help": "batch examples of similar length together (less padding without padding_free)"}
    )
    seed: int = 42
    logging_steps: int = 5
    save_steps: int = field(default=0, metadata={"help": "checkpoint every N optimiser steps (0: once per epoch)"})
    warmup_ratio: float = 0.0
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    stop_at_loss: float = field(default=0.0, metadata={"help": "stop once the logged training loss falls below this"})

    @classmethod
    def from_dict(cls, data: dict) -> TuningConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError([f"unknown setting(s): {', '.join(unknown)}"])
        return cls(**data)

    @classmethod
    def settable(cls) -> frozenset[str]:
        """The training knobs a person may set (form, API, `tune --set`); the rest is the system's."""
        return frozenset(f.name for f in fields(cls) if not f.metadata.get("system"))

    @classmethod
    def help_texts(cls) -> dict[str, str]:
        return {f.name: f.metadata.get("help", "") for f in fields(cls)}

    def to_dict(self) -> dict:
        return asdict(self)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False))


def settings_problems(values: dict) -> dict[str, str]:
    """Why each of these submitted settings may not be set, by key ({} when all may)."""
    known = {f.name for f in fields(TuningConfig)}
    settable = TuningConfig.settable()
    problems = {}
    for key in values:
        if key not in known:
            problems[str(key)] = f"unknown setting {key!r}: not a training knob"
        elif key not in settable:
            problems[key] = f"{key!r} is set by the system for each run and cannot be submitted"
    return problems


def estimate_parameters(model_dir: str) -> int | None:
    """Parameter count from config.json (no weights loaded); None if it cannot be read."""
    try:
        config = json.loads((Path(model_dir) / "config.json").read_text())
        hidden, layers = config["hidden_size"], config["num_hidden_layers"]
        intermediate, vocab = config["intermediate_size"], config["vocab_size"]
    except (OSError, KeyError, ValueError):
        return None
    heads, kv_heads = (
        config.get("num_attention_heads", 1),
        config.get("num_key_value_heads") or config.get("num_attention_heads", 1),
    )
    head_dim = config.get("head_dim") or hidden // heads
    attention = hidden * head_dim * (2 * heads + 2 * kv_heads)
    per_layer = attention + 3 * hidden * intermediate + 2 * hidden
    embeddings = vocab * hidden * (1 if config.get("tie_word_embeddings") else 2)
    return layers * per_layer + embeddings


def full_finetune_gib(parameters: int) -> float:
    """Memory for full fine-tuning with AdamW in mixed precision: ~16 bytes per parameter."""
    return parameters * 16 / 2**30


def validate(config: TuningConfig, *, hardware: Hardware | None = None) -> TuningConfig:
    """All value ranges and cross-field rules, before any model is loaded.

    With `hardware` (in the worker), precision, quantisation and memory are checked too.
    """
    problems: list[str] = []
    method = config.finetuning_type
    if config.stage not in STAGES:
        problems.append(f"stage must be one of {STAGES}, not {config.stage!r}")
    if method not in METHODS:
        problems.append(f"finetuning_type must be one of {METHODS}, not {method!r}")
    if method == "lora":
        if not 1 <= config.lora_rank <= 256:
            problems.append(f"lora_rank {config.lora_rank} is outside 1..256 ({ADVICE['lora_rank']})")
        elif config.lora_alpha <= 0 or config.lora_alpha % config.lora_rank:
            problems.append(f"lora_alpha {config.lora_alpha} with lora_rank {config.lora_rank}: {ADVICE['lora_alpha']}")
        if not 0 <= config.lora_dropout < 1:
            problems.append(f"lora_dropout {config.lora_dropout} is outside [0, 1) ({ADVICE['lora_dropout']})")
    low, high = LEARNING_RATE_RANGES.get(method, (0, 1))
    if not 0 < config.learning_rate <= 1e-2:
        problems.append(f"learning_rate {config.learning_rate} is outside (0, 1e-2] ({ADVICE['learning_rate']})")
    elif not low <= config.learning_rate <= high and not config.allow_unadvised_learning_rate:
        problems.append(
            f"learning_rate {config.learning_rate:g} is outside {low:g}–{high:g} advised for {method} "
            f"({ADVICE['learning_rate']}); set allow_unadvised_learning_rate to use it anyway"
        )
    if config.per_device_train_batch_size < 1 or config.gradient_accumulation_steps < 1:
        problems.append(f"batch size and gradient accumulation must be at least 1 ({ADVICE['batch']})")
    elif config.devices < 1:
        problems.append(f"devices {config.devices} is below 1")
    elif global_batch(config) % config.devices:
        problems.append(
            f"the global batch {global_batch(config)} (per_device_train_batch_size {config.per_device_train_batch_size}"
            f" × gradient_accumulation_steps {config.gradient_accumulation_steps}) cannot be shared equally among "
            f"{config.devices} devices: make it a multiple of {config.devices}, or use fewer devices"
        )
    if not 0 < config.num_train_epochs <= 1000:
        problems.append(f"num_train_epochs {config.num_train_epochs} is outside (0, 1000] ({ADVICE['epochs']})")
    if config.cutoff_len < 16:
        problems.append(f"cutoff_len {config.cutoff_len} is below 16 tokens")
    if not 0 <= config.val_size < 0.5:
        problems.append(f"val_size {config.val_size} is outside [0, 0.5)")
    if config.early_stopping_patience and not config.val_size:
        problems.append("early_stopping_patience needs a validation split (val_size > 0)")
    if config.bf16 and config.fp16:
        problems.append("choose one of bf16 and fp16")
    if method == "freeze" and config.freeze_trainable_layers < 1:
        problems.append("freeze_trainable_layers must be at least 1")
    if config.quantization_bit is not None:
        if config.quantization_bit != 4:
            problems.append(f"quantization_bit {config.quantization_bit}: only 4-bit (QLoRA) is supported")
        elif method != "lora":
            problems.append("quantization_bit (QLoRA) works with finetuning_type lora only")
    if config.packing and config.stage != "pt":
        problems.append("packing is for the pt stage; sft batches are grouped by length instead")
    if hardware is not None:
        problems += _hardware_problems(config, hardware)
    if problems:
        raise ConfigError(problems)
    return config


def global_batch(config: TuningConfig) -> int:
    """Examples per optimiser step, whatever the number of devices."""
    return config.per_device_train_batch_size * config.gradient_accumulation_steps


def batch_per_process(config: TuningConfig) -> tuple[int, int]:
    """(per-device batch, gradient accumulation) of each of `config.devices` processes, so that together
    they take the global batch of one process: the accumulation is divided when it can be (the same
    per-device batch, so the same memory), else the per-device batch is made smaller."""
    batch, accumulation, devices = (
        config.per_device_train_batch_size,
        config.gradient_accumulation_steps,
        config.devices,
    )
    if accumulation % devices == 0:
        return batch, accumulation // devices
    share = global_batch(config) // devices  # validate() refuses a global batch that does not divide
    batch = max(size for size in range(1, batch + 1) if share % size == 0)
    return batch, share // batch


def _hardware_problems(config: TuningConfig, hardware: Hardware) -> list[str]:
    problems = []
    if config.devices > hardware.devices:
        where = "GPUs" if hardware.cuda else "CPU cores"
        problems.append(f"devices {config.devices} is more than the {hardware.devices} {where} this worker has")
    if config.quantization_bit and not (hardware.cuda and hardware.bitsandbytes):
        problems.append("QLoRA (quantization_bit 4) needs a CUDA GPU and the bitsandbytes package; use lora here")
    if config.fp16 and not hardware.cuda:
        problems.append("fp16 training needs a CUDA GPU; leave fp16 off on this machine")
    if config.finetuning_type == "full":
        parameters = estimate_parameters(config.model_name_or_path)
        if parameters:
            need = full_finetune_gib(parameters)
            have = hardware.gpu_memory_gib if hardware.cuda else hardware.cpu_memory_gib
            if have and need > have:
                where = f"the GPU's {have:.0f} GiB" if hardware.cuda else f"this machine's {have:.0f} GiB of memory"
                problems.append(
                    f"full fine-tuning of {parameters / 1e9:.1f}B parameters needs about {need:.0f} GiB "
                    f"(weights, gradients and AdamW states), more than {where}; use lora or freeze"
                )
    return problems


def downgrade_precision(config: TuningConfig, hardware: Hardware) -> list[str]:
    """bf16 where unsupported becomes fp32, with a warning (the one rule that adjusts instead of refusing)."""
    if config.bf16 and not hardware.bf16:
        config.bf16 = False
        return ["bf16 is not supported here; training in fp32 instead"]
    return []


def preset(method: str, *, dataset_size: int, hardware: Hardware | None = None, memorise: bool = False) -> dict:
    """`auto` settings for a method, the dataset size and the hardware (the seed's guidance).

    `memorise` is the demo's setting: a tiny model trained from random weights until it
    reproduces its small bank, which needs a far higher learning rate than a real checkpoint.
    """
    if method not in METHODS:
        raise ConfigError([f"unknown method {method!r}; expected one of {METHODS}"])
    small = dataset_size < SMALL_DATASET
    values: dict = {"finetuning_type": method}
    if method == "lora":
        values |= {
            "lora_rank": 8 if small else 16,
            "lora_alpha": 16 if small else 32,
            "lora_dropout": 0.3 if small else 0.05,
            "learning_rate": 2e-4,
            "num_train_epochs": 3.0,
        }
    elif method == "freeze":
        values |= {"learning_rate": 5e-5, "num_train_epochs": 4.0}
    else:
        values |= {"learning_rate": 1e-5, "num_train_epochs": 10.0 if small else 5.0}
    big_memory = hardware is not None and hardware.cuda and hardware.gpu_memory_gib >= 40
    values |= {
        "per_device_train_batch_size": 8 if big_memory else 2,
        "gradient_accumulation_steps": 2 if big_memory else 8,
    }
    if small:
        values |= {"val_size": 0.1, "early_stopping_patience": 2}
    if hardware is not None and hardware.cuda:
        values |= {"bf16": hardware.bf16, "fp16": not hardware.bf16}
    if memorise:
        # measured on the 100-question demo bank: full, 2e-3 cosine, ~45 epochs to loss 0.01
        values |= {
            "learning_rate": 2e-3 if method == "full" else 1e-2 if method == "lora" else 5e-3,
            "allow_unadvised_learning_rate": True,
            "lora_rank": 64,
            "lora_alpha": 128,
            "lora_dropout": 0.0,
            "per_device_train_batch_size": 8,
            "gradient_accumulation_steps": 1,
            "val_size": 0.0,
            "early_stopping_patience": 0,
            "num_train_epochs": 60.0,
            "stop_at_loss": 0.01,
            "save_steps": 200,
            "warmup_ratio": 0.02,
            "logging_steps": 10,
        }
    return values
