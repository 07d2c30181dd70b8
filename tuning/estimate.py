"""How much memory per device, and roughly how long, a run needs: from the base model's shape and the plan.

Pure arithmetic (no torch), so the web process, the run form and `tune --estimate` all use it. The bytes
per parameter follow what the trainers hold in memory (LLaMA-Factory's accounting, which its README's
hardware table summarises):

  weights      fp32 4 B; bf16/fp16 2 B; QLoRA: the linear layers at 4 or 8 bits (NF4 with double
               quantisation adds ~3%), embeddings, norms and the LM head at 2 B
  trainable    AdamW in mixed precision: fp32 master weight 4 + gradient 4 + two moments 8 = 16 B;
               pure bf16: 2 + 2 + 4 = 8 B; ZeRO shards the moments (stage 1), the gradients (2) and the
               weights (3) across the devices
  activations  per token and layer (sdpa attention, no attention matrix kept): ~7h + 3kv + 4i values;
               with gradient checkpointing only each layer's input plus one layer recomputed; only the
               layers gradients flow through keep them (freeze: the trained top layers)
  logits       fp32 logits and their gradient for the whole vocabulary, per token
  runtime      the CUDA context, or the Python process with torch on a CPU

It checks out against LLaMA-Factory's table within a third (tests/tuning/test_estimate.py) and against a
measured CPU peak on the tiny model. Time is FLOPs (6 per parameter and token for full training, less
when the base is frozen) over a sustained fraction of the device's peak: the right order of magnitude,
no more.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

GB = 1e9
METHODS = ("full", "freeze", "lora", "qlora")
PRECISIONS = ("fp32", "amp", "bf16")  # fp32; mixed (fp32 master weights, 16-bit compute); pure bf16
CUDA_RUNTIME_GB = 0.8
CPU_RUNTIME_GB = 0.6
# sustained dense bf16 TFLOP/s a training step reaches (about 40% of the data sheet's dense peak)
DEVICE_TFLOPS = {"h200": 400, "h100": 400, "a100": 125, "a800": 125, "h800": 400, "l40": 90, "a6000": 60}
DEFAULT_GPU_TFLOPS = 40
CPU_GFLOPS_PER_CORE = 20


@dataclass(frozen=True)
class ModelShape:
    """A decoder's dimensions (config.json names) and its parameter count."""

    parameters: int
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    vocab_size: int
    head_dim: int
    tie_word_embeddings: bool = False

    @classmethod
    def from_config(cls, config: dict, parameters: int | None = None) -> ModelShape:
        """From a Hugging Face config.json (a text config nested under text_config is used too)."""
        config = config.get("text_config") or config
        hidden = int(config["hidden_size"])
        heads = int(config.get("num_attention_heads") or 1)
        shape = cls(
            parameters=0,
            hidden_size=hidden,
            intermediate_size=int(config.get("intermediate_size") or 4 * hidden),
            num_hidden_layers=int(config["num_hidden_layers"]),
            num_attention_heads=heads,
            num_key_value_heads=int(config.get("num_key_value_heads") or heads),
            vocab_size=int(config["vocab_size"]),
            head_dim=int(config.get("head_dim") or hidden // heads),
            tie_word_embeddings=bool(config.get("tie_word_embeddings", False)),
        )
        counted = shape.embedding_parameters + shape.num_hidden_layers * shape.layer_parameters + hidden
        return cls(**{**asdict(shape), "parameters": int(parameters or counted)})

    @property
    def kv_size(self) -> int:
        return self.num_key_value_heads * self.head_dim

    @property
    def embedding_parameters(self) -> int:
        return self.vocab_size * self.hidden_size * (1 if self.tie_word_embeddings else 2)

    @property
    def layer_linear_parameters(self) -> int:
        h, q = self.hidden_size, self.num_attention_heads * self.head_dim
        attention = h * q * 2 + h * self.kv_size * 2
        return attention + 3 * h * self.intermediate_size

    @property
    def layer_parameters(self) -> int:
        # q, k, v biases (Qwen2) and two norms are noise beside the matrices, but cheap to count
        return (
            self.layer_linear_parameters
            + self.num_attention_heads * self.head_dim
            + 2 * self.kv_size
            + 2 * (self.hidden_size)
        )

    @property
    def linear_parameters(self) -> int:
        """What QLoRA quantises: every decoder layer's linear weights (not embeddings nor the LM head)."""
        scale = self.parameters / max(self._counted, 1)  # an MoE's experts scale the layers up
        return int(self.num_hidden_layers * self.layer_linear_parameters * scale)

    @property
    def _counted(self) -> int:
        return self.embedding_parameters + self.num_hidden_layers * self.layer_parameters + self.hidden_size

    def lora_parameters(self, rank: int) -> int:
        """LoRA on all linear layers: rank × (in + out) for q, k, v, o, gate, up, down."""
        h, q, i = self.hidden_size, self.num_attention_heads * self.head_dim, self.intermediate_size
        per_layer = (h + q) * 2 + (h + self.kv_size) * 2 + (h + i) * 3
        return self.num_hidden_layers * rank * per_layer


@dataclass(frozen=True)
class Plan:
    """What a run will do. `quantization_bit` is QLoRA's (4 unless 8 is asked for)."""

    method: str = "lora"
    precision: str = "amp"
    quantization_bit: int | None = None
    lora_rank: int = 8
    freeze_trainable_layers: int = 2
    batch_size: int = 1
    seq_len: int = 1024
    gradient_checkpointing: bool = True
    zero_stage: int = 0
    devices: int = 1
    cuda: bool = True
    tokens: int = 0  # tokens trained on in all (examples × tokens each × epochs); 0: no time estimate

    def problems(self) -> list[str]:
        found = []
        if self.method not in METHODS:
            found.append(f"method must be one of {', '.join(METHODS)}, not {self.method!r}")
        if self.precision not in PRECISIONS:
            found.append(f"precision must be one of {', '.join(PRECISIONS)}, not {self.precision!r}")
        if self.method == "qlora" and self.quantization_bit not in (None, 4, 8):
            found.append(f"QLoRA quantises to 4 or 8 bits, not {self.quantization_bit}")
        if self.zero_stage not in (0, 1, 2, 3):
            found.append(f"zero_stage must be 0, 1, 2 or 3, not {self.zero_stage}")
        if min(self.devices, self.batch_size, self.seq_len, self.lora_rank, self.freeze_trainable_layers) < 1:
            found.append("devices, batch size, sequence length, LoRA rank and trainable layers must be at least 1")
        return found


@dataclass(frozen=True)
class Estimate:
    per_device_gb: float
    trainable_parameters: int
    parts_gb: dict
    seconds: float | None

    def as_dict(self) -> dict:
        return asdict(self)


def trainable_parameters(shape: ModelShape, plan: Plan) -> int:
    if plan.method == "full":
        return shape.parameters
    if plan.method == "freeze":
        layers = min(plan.freeze_trainable_layers, shape.num_hidden_layers)
        return layers * shape.linear_parameters // shape.num_hidden_layers
    return shape.lora_parameters(plan.lora_rank)


def memory_parts(shape: ModelShape, plan: Plan) -> dict[str, float]:
    """Bytes per device by what holds them, in GB."""
    trainable = trainable_parameters(shape, plan)
    shards = plan.devices if plan.devices > 1 else 1
    pure = plan.precision == "bf16"
    if plan.method == "qlora":
        bits = plan.quantization_bit or 4
        per_linear = bits / 8 * (1.03 if bits == 4 else 1.0)
        frozen = shape.linear_parameters * per_linear + (shape.parameters - shape.linear_parameters) * 2
    elif plan.method in ("lora", "freeze"):
        frozen_bytes = 4 if plan.precision == "fp32" else 2
        frozen = (shape.parameters - (trainable if plan.method == "freeze" else 0)) * frozen_bytes
    else:
        frozen = 0.0
    master, gradient, moments = (2.0, 2.0, 4.0) if pure else (4.0, 4.0, 8.0)
    if plan.zero_stage >= 1:
        moments /= shards
    if plan.zero_stage >= 2:
        gradient /= shards
    if plan.zero_stage >= 3:
        master /= shards
        frozen /= shards
    return {
        "weights": frozen / GB,
        "trainable": trainable * (master + gradient + moments) / GB,
        "activations": _activation_bytes(shape, plan) / GB,
        "logits": plan.batch_size * plan.seq_len * shape.vocab_size * 10 / GB,
        "runtime": CUDA_RUNTIME_GB if plan.cuda else CPU_RUNTIME_GB,
    }


def _activation_bytes(shape: ModelShape, plan: Plan) -> float:
    tokens = plan.batch_size * plan.seq_len
    value = 4 if plan.precision == "fp32" else 2
    layers = (
        min(plan.freeze_trainable_layers, shape.num_hidden_layers)
        if plan.method == "freeze"
        else shape.num_hidden_layers
    )
    h, kv, i = shape.hidden_size, shape.kv_size, shape.intermediate_size
    one_layer = tokens * (7 * h + 3 * kv + 4 * i) * value
    if plan.gradient_checkpointing:
        return layers * tokens * h * value + one_layer
    return layers * one_layer


def training_seconds(shape: ModelShape, plan: Plan, *, tflops_per_device: float) -> float | None:
    """FLOPs for `plan.tokens` tokens over the devices' sustained rate; None without tokens."""
    if not plan.tokens or tflops_per_device <= 0:
        return None
    compute = shape.parameters - shape.vocab_size * shape.hidden_size  # the embedding lookup costs nothing
    per_token: float
    if plan.method == "full":
        per_token = 6 * compute
    elif plan.method == "freeze":
        share = min(plan.freeze_trainable_layers, shape.num_hidden_layers) / shape.num_hidden_layers
        per_token = 2 * compute + 4 * compute * share
    else:  # gradients flow through every frozen layer, but no weight gradients are made
        per_token = 4 * compute
    if plan.gradient_checkpointing:
        per_token += 2 * compute
    return per_token * plan.tokens / (tflops_per_device * 1e12 * plan.devices)


def device_tflops(*, device_name: str = "", cuda: bool = True, cpu_cores: int = 1) -> float:
    """The sustained rate of a device, from its name (CUDA) or its cores (CPU)."""
    if not cuda:
        return max(cpu_cores, 1) * CPU_GFLOPS_PER_CORE / 1000
    name = device_name.lower().replace(" ", "")
    return next((rate for key, rate in DEVICE_TFLOPS.items() if key in name), DEFAULT_GPU_TFLOPS)


def estimate(shape: ModelShape, plan: Plan, *, tflops_per_device: float | None = None) -> Estimate:
    problems = plan.problems()
    if problems:
        raise ValueError("; ".join(problems))
    parts = memory_parts(shape, plan)
    rate = tflops_per_device if tflops_per_device is not None else device_tflops(cuda=plan.cuda)
    return Estimate(
        per_device_gb=round(sum(parts.values()), 2),
        trainable_parameters=trainable_parameters(shape, plan),
        parts_gb={key: round(value, 3) for key, value in parts.items()},
        seconds=training_seconds(shape, plan, tflops_per_device=rate),
    )
