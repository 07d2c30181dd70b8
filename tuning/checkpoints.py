"""What a Hugging Face-layout checkpoint directory holds, read without loading it.

config.json gives the architecture and the dimensions; the safetensors headers (an 8-byte little-endian
length, then JSON naming each tensor's dtype and shape) give the exact parameter count; the tokenizer
files say whether a chat template is there. Whether transformers trains the architecture and vLLM serves
it is read from their own model tables as source text: importing either would load torch, and this runs
in the web process (the admin's registration page).
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import json
import math
import struct
from dataclasses import dataclass, field
from pathlib import Path

from tuning.estimate import ModelShape

TEMPLATE_FILE = "chat_template.jinja"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json")
HEADER_LIMIT = 100 * 2**20  # a safetensors header larger than this is not one
# What vLLM serves when vllm is not installed on this host (its registry's text-generation models;
# the decoder families this project fine-tunes are all here).
VLLM_FALLBACK = frozenset(
    {
        "DeepseekForCausalLM",
        "DeepseekV2ForCausalLM",
        "DeepseekV3ForCausalLM",
        "Qwen2ForCausalLM",
        "Qwen2MoeForCausalLM",
        "Qwen3ForCausalLM",
        "Qwen3MoeForCausalLM",
        "LlamaForCausalLM",
        "MistralForCausalLM",
        "MixtralForCausalLM",
        "GemmaForCausalLM",
        "Gemma2ForCausalLM",
        "Gemma3ForCausalLM",
        "Phi3ForCausalLM",
        "InternLM2ForCausalLM",
        "ChatGLMModel",
        "GPT2LMHeadModel",
    }
)


@dataclass
class Checkpoint:
    path: Path
    config: dict
    architecture: str
    model_type: str
    config_parameters: int
    weight_parameters: int | None = None  # from the safetensors headers; None without weights
    weight_dtypes: dict[str, int] = field(default_factory=dict)  # dtype -> parameters
    has_tokenizer: bool = False
    has_template: bool = False

    @property
    def parameters(self) -> int:
        return self.weight_parameters or self.config_parameters

    @property
    def shape(self) -> ModelShape:
        return ModelShape.from_config(self.config, self.parameters)

    def spec(self) -> dict:
        """What the estimate needs of the model, kept on its version."""
        shape = self.shape
        return {
            "model_type": self.model_type,
            "hidden_size": shape.hidden_size,
            "intermediate_size": shape.intermediate_size,
            "num_hidden_layers": shape.num_hidden_layers,
            "num_attention_heads": shape.num_attention_heads,
            "num_key_value_heads": shape.num_key_value_heads,
            "vocab_size": shape.vocab_size,
            "head_dim": shape.head_dim,
            "tie_word_embeddings": shape.tie_word_embeddings,
            "config_parameters": self.config_parameters,
            "weight_parameters": self.weight_parameters,
            "weight_dtypes": self.weight_dtypes,
        }


class CheckpointError(ValueError):
    pass


def config_path(path: Path | str) -> Path:
    """config.json itself, or the one in the directory."""
    path = Path(path)
    return path if path.name.endswith(".json") and path.is_file() else path / "config.json"


def read_checkpoint(path: Path | str) -> Checkpoint:
    """Read config.json, the safetensors headers and the tokenizer files at `path` (a directory, or a
    config.json for a config alone). Raises CheckpointError when config.json is missing or unusable."""
    config_file = config_path(path)
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise CheckpointError(f"{path} has no config.json") from exc
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{config_file} cannot be read as JSON: {exc}") from exc
    if not isinstance(config, dict):
        raise CheckpointError(f"{config_file} is not a JSON object")
    architectures = config.get("architectures") or []
    try:
        shape = ModelShape.from_config(config)
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{config_file} lacks the decoder's dimensions ({exc})") from exc
    directory = config_file.parent
    checkpoint = Checkpoint(
        path=directory,
        config=config,
        architecture=architectures[0] if architectures else "",
        model_type=str(config.get("model_type", "")),
        config_parameters=shape.parameters,
        has_tokenizer=any((directory / name).is_file() for name in TOKENIZER_FILES),
        has_template=has_chat_template(directory),
    )
    files = safetensors_files(directory)
    if files:
        checkpoint.weight_dtypes = safetensors_parameters(files)
        checkpoint.weight_parameters = sum(checkpoint.weight_dtypes.values())
    return checkpoint


def safetensors_files(directory: Path) -> list[Path]:
    index = directory / "model.safetensors.index.json"
    if index.is_file():
        weight_map = json.loads(index.read_text(encoding="utf-8")).get("weight_map", {})
        return [directory / name for name in sorted(set(weight_map.values()))]
    return sorted(directory.glob("*.safetensors"))


def safetensors_parameters(files: list[Path]) -> dict[str, int]:
    """Parameters by dtype, from each file's header only (the weights are not read)."""
    counts: dict[str, int] = {}
    for file in files:
        with file.open("rb") as handle:
            (length,) = struct.unpack("<Q", handle.read(8))
            if not 0 < length <= HEADER_LIMIT:
                raise CheckpointError(f"{file.name} is not a safetensors file (header length {length})")
            header = json.loads(handle.read(length))
        for name, tensor in header.items():
            if name != "__metadata__":
                counts[tensor["dtype"]] = counts.get(tensor["dtype"], 0) + math.prod(tensor["shape"])
    return counts


def has_chat_template(directory: Path) -> bool:
    if (directory / TEMPLATE_FILE).is_file() or (directory / "chat_template.json").is_file():
        return True
    tokenizer_config = directory / "tokenizer_config.json"
    if not tokenizer_config.is_file():
        return False
    try:
        return bool(json.loads(tokenizer_config.read_text(encoding="utf-8")).get("chat_template"))
    except ValueError:
        return False


def _package_file(package: str, relative: str) -> Path | None:
    spec = importlib.util.find_spec(package)  # a top-level package: found, not imported
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    return path if path.is_file() else None


def _assigned_literal(path: Path, name: str) -> dict | None:
    """The literal assigned to `name` at the top of a module's source (OrderedDict([...]) included)."""
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if not isinstance(node, ast.Assign | ast.AnnAssign) or node.value is None:
            continue
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        if any(getattr(target, "id", None) == name for target in targets):
            value = node.value
            if isinstance(value, ast.Call) and value.args:  # OrderedDict([...])
                value = value.args[0]
            if isinstance(value, ast.Dict):  # keys only: the values may be calls
                return {ast.literal_eval(key): None for key in value.keys if key is not None}
            return dict(ast.literal_eval(value))
    return None


@functools.cache
def transformers_causal_lm() -> dict[str, str]:
    """model_type -> causal-LM class, as transformers' MODEL_FOR_CAUSAL_LM_MAPPING_NAMES has them."""
    path = _package_file("transformers", "models/auto/modeling_auto.py")
    found = _assigned_literal(path, "MODEL_FOR_CAUSAL_LM_MAPPING_NAMES") if path else None
    return {str(key): value if isinstance(value, str) else str(value) for key, value in (found or {}).items()}


@functools.cache
def vllm_architectures() -> frozenset[str]:
    """The text-generation architectures vLLM's model registry serves (a fallback list without vllm)."""
    path = _package_file("vllm", "model_executor/models/registry.py")
    found = _assigned_literal(path, "_TEXT_GENERATION_MODELS") if path else None
    return frozenset(found) if found else VLLM_FALLBACK


def support_problems(checkpoint: Checkpoint) -> list[str]:
    """Why transformers could not train it or vLLM could not serve it ([] when both can)."""
    if not checkpoint.architecture:
        return ['config.json names no architecture ("architectures"): the model class is unknown']
    problems = []
    trainable = transformers_causal_lm()
    if checkpoint.architecture not in set(trainable.values()) or checkpoint.model_type not in trainable:
        problems.append(
            f"transformers has no causal language model {checkpoint.architecture} "
            f"(model_type {checkpoint.model_type!r}), so it cannot be fine-tuned here"
        )
    if checkpoint.architecture not in vllm_architectures():
        problems.append(f"vLLM does not serve {checkpoint.architecture}, so it could not be served")
    return problems
