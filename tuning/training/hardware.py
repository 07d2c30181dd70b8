"""What this worker can train on."""

from __future__ import annotations

import importlib.util
import os
import platform

import torch

from tuning.training.config import Hardware


def detect_hardware() -> Hardware:
    cpu_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    if not torch.cuda.is_available():
        return Hardware(cuda=False, cpu_memory_gib=cpu_gib, devices=len(os.sched_getaffinity(0)))
    properties = torch.cuda.get_device_properties(0)
    return Hardware(
        cuda=True,
        gpu_memory_gib=properties.total_memory / 2**30,
        bf16=torch.cuda.is_bf16_supported(),
        bitsandbytes=importlib.util.find_spec("bitsandbytes") is not None,
        cpu_memory_gib=cpu_gib,
        devices=torch.cuda.device_count(),
    )


def worker_hardware() -> dict:
    """What a tuning worker reports of itself (tuning.compute.compute_worker_report stores it): memory in
    GB (10^9 bytes, as the estimate counts). A CPU worker's devices are its cores, sharing its RAM."""
    cores = len(os.sched_getaffinity(0))
    ram_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9
    report = {"cpu_cores": cores, "ram_gb": round(ram_gb, 1), "bitsandbytes": False}
    if not torch.cuda.is_available():
        return report | {
            "device_type": "cpu",
            "device_name": platform.processor() or platform.machine(),
            "device_count": cores,
            "memory_per_device_gb": round(ram_gb, 1),
            "bf16": False,
        }
    properties = torch.cuda.get_device_properties(0)
    return report | {
        "device_type": "cuda",
        "device_name": properties.name,
        "device_count": torch.cuda.device_count(),
        "memory_per_device_gb": round(properties.total_memory / 1e9, 1),
        "bf16": torch.cuda.is_bf16_supported(),
        "bitsandbytes": importlib.util.find_spec("bitsandbytes") is not None,
    }
