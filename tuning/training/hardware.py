"""What this worker can train on."""

from __future__ import annotations

import importlib.util
import os

import torch

from tuning.training.config import Hardware


def detect_hardware() -> Hardware:
    cpu_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    if not torch.cuda.is_available():
        return Hardware(cuda=False, cpu_memory_gib=cpu_gib)
    properties = torch.cuda.get_device_properties(0)
    return Hardware(
        cuda=True,
        gpu_memory_gib=properties.total_memory / 2**30,
        bf16=torch.cuda.is_bf16_supported(),
        bitsandbytes=importlib.util.find_spec("bitsandbytes") is not None,
        cpu_memory_gib=cpu_gib,
    )
