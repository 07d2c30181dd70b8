"""Whether a run fits where it is sent, decided before it is queued.

The estimate (tuning/estimate.py) of the run's method and settings on its base model is set against the
hardware the pool's live workers reported: a run no worker can hold is refused with the reason and an
alternative that would fit (fewer trainable layers, LoRA, QLoRA, a pool with more memory, or more
devices when the plan shards across them). run_create calls `run_admit`, so the API, the form, the
OpenAI-compatible endpoint and `manage.py tune` refuse alike; `run_estimate` is what the form shows live
and `tune --estimate` prints.
"""

from __future__ import annotations

from dataclasses import replace

from core.exceptions import ApplicationError
from tuning.compute import DEFAULT_POOL
from tuning.estimate import ModelShape, Plan, device_tflops, estimate
from tuning.models import ComputeWorker, ModelVersion, RunEvent, TuningRun
from tuning.selectors import pool_workers
from tuning.training.config import preset, settings_problems

# What the estimate takes beyond the training config (what-if questions, not knobs of a run)
ESTIMATE_KEYS = frozenset({"precision", "gradient_checkpointing", "zero_stage", "devices"})
TOKENS_PER_EXAMPLE = 300  # a question with its explanation, when the bank's lengths are not counted
CUDA_HEADROOM = 0.95  # what of a GPU's memory a run may plan on (allocator fragmentation)
CPU_HEADROOM = 0.85  # what of a CPU worker's RAM (the system and the worker itself keep the rest)


def version_shape(version: ModelVersion) -> ModelShape:
    """The base model's shape, from what registration kept (tuning/checkpoints.py)."""
    if not version.spec or not version.parameters:
        raise ApplicationError(
            f"{version.name} has no recorded shape (config.json was not readable at registration); "
            "register its directory again to estimate with it",
            extra={"code": "no_shape", "version": version.name},
        )
    return ModelShape.from_config(version.spec, version.parameters)


def plan_of(method: str, values: dict, *, cuda: bool, examples: int = 0) -> Plan:
    """The estimate's plan for a run's method and settings (a config's values, plus ESTIMATE_KEYS).

    The trainer loads the base in fp32 and bf16/fp16 only autocast (tuning/training/workflow.py), so a
    run is estimated at fp32 weights unless `precision` says otherwise; full training with bf16/fp16 is
    mixed precision ("amp": the same 16 bytes per parameter, 16-bit activations), and so is QLoRA.
    """
    quantization = values.get("quantization_bit")
    if method == "qlora":
        quantization = quantization or 4
    elif method == "lora" and quantization:
        method = "qlora"
    mixed = bool(values.get("bf16") or values.get("fp16"))
    # QLoRA computes in bf16/fp16 whatever the flags say (load_model's bnb_4bit_compute_dtype)
    precision = values.get("precision") or ("amp" if (mixed and method == "full") or method == "qlora" else "fp32")
    epochs = float(values.get("num_train_epochs") or 1)
    seq_len = int(values.get("cutoff_len") or 1024)
    return Plan(
        method=method,
        precision=precision,
        quantization_bit=quantization,
        lora_rank=int(values.get("lora_rank") or 8),
        freeze_trainable_layers=int(values.get("freeze_trainable_layers") or 2),
        batch_size=int(values.get("per_device_train_batch_size") or 1),
        seq_len=seq_len,
        gradient_checkpointing=bool(values.get("gradient_checkpointing", False)),
        zero_stage=int(values.get("zero_stage") or 0),
        devices=int(values.get("devices") or 1),
        cuda=cuda,
        tokens=int(examples * min(seq_len, TOKENS_PER_EXAMPLE) * epochs),
    )


def worker_fit(worker: ComputeWorker, plan: Plan, per_device_gb: float) -> tuple[bool, str]:
    """Whether one worker holds the plan, and why not."""
    cuda = worker.device_type == "cuda"
    if plan.method == "qlora" and not (cuda and worker.bitsandbytes):
        return False, (
            f"{worker.name} has no CUDA GPU: QLoRA needs bitsandbytes, which needs CUDA"
            if not cuda
            else f"{worker.name} lacks the bitsandbytes package QLoRA needs"
        )
    if plan.devices > worker.device_count:
        unit = "GPUs" if cuda else "CPU cores"
        return False, f"{worker.name} has {worker.device_count} {unit}, not {plan.devices}"
    if cuda:
        usable = worker.memory_per_device_gb * CUDA_HEADROOM
        if per_device_gb > usable:
            return False, (
                f"{worker.name}'s {worker.device_name or 'GPU'} has {worker.memory_per_device_gb:.0f} GB, "
                f"{usable:.0f} GB usable, per device"
            )
        return True, ""
    usable, need = worker.ram_gb * CPU_HEADROOM, per_device_gb * plan.devices  # processes share the RAM
    if need > usable:
        return False, f"{worker.name} has {worker.ram_gb:.0f} GB of RAM ({usable:.0f} GB usable)"
    return True, ""


def pool_fit(pool: str, plan: Plan, per_device_gb: float) -> tuple[bool | None, str, list[ComputeWorker]]:
    """(fits, why, the workers that hold it); fits is None when the pool has no live worker to judge by."""
    workers = pool_workers(pool)
    if not workers:
        known = pool_workers(pool, live=False)
        if not known and pool != DEFAULT_POOL:
            return False, f"no worker has ever served pool {pool!r} (queue tuning.{pool})", []
        return None, f"pool {pool!r} has no live worker: the run would wait in its queue until one starts", []
    verdicts = [(worker, *worker_fit(worker, plan, per_device_gb)) for worker in workers]
    fitting = [worker for worker, fits, _ in verdicts if fits]
    if fitting:
        names = ", ".join(worker.name for worker in fitting)
        return True, f"fits {len(fitting)} of {len(workers)} live workers of pool {pool!r} ({names})", fitting
    return False, "; ".join(why for _, _, why in verdicts), []


def _alternatives(shape: ModelShape, plan: Plan) -> list[tuple[str, Plan]]:
    found = []
    if plan.method == "freeze" and plan.freeze_trainable_layers > 1:
        found.append(("train fewer layers (freeze_trainable_layers 1)", replace(plan, freeze_trainable_layers=1)))
    if plan.method in ("full", "freeze"):
        found.append(("use LoRA", replace(plan, method="lora")))
    if plan.method != "qlora":
        found.append(("use QLoRA (4-bit)", replace(plan, method="qlora", quantization_bit=4)))
    if plan.zero_stage:
        found += [(f"use {count} devices", replace(plan, devices=count)) for count in (2, 4, 8) if count > plan.devices]
    return found


def run_estimate(
    *, base_version: ModelVersion, method: str, values: dict, pool: str = DEFAULT_POOL, examples: int = 0
) -> dict:
    """The estimate of a run on `pool`: method, params, per_device_gb, devices, fits, pool, why (and
    seconds, parts_gb, alternative). `fits` is None when no live worker can tell."""
    shape = version_shape(base_version)
    workers = pool_workers(pool)
    cuda = any(worker.device_type == "cuda" for worker in workers) if workers else True
    plan = plan_of(method, values, cuda=cuda, examples=examples)
    rate = max((_rate(worker) for worker in workers), default=device_tflops(cuda=cuda))
    try:
        found = estimate(shape, plan, tflops_per_device=rate)
    except ValueError as exc:
        raise ApplicationError(f"cannot estimate: {exc}", extra={"code": "bad_plan"}) from exc
    fits, why, _ = pool_fit(pool, plan, found.per_device_gb)
    alternative = None
    if fits is False:
        alternative = _first_fitting(shape, plan, pool)
        why += f"; {alternative}" if alternative else "; nothing smaller fits this pool either"
    return {
        "method": plan.method,
        "params": shape.parameters,
        "trainable_params": found.trainable_parameters,
        "per_device_gb": found.per_device_gb,
        "devices": plan.devices,
        "fits": fits,
        "pool": pool,
        "why": why,
        "alternative": alternative,
        "seconds": round(found.seconds) if found.seconds is not None else None,
        "parts_gb": found.parts_gb,
        "precision": plan.precision,
    }


def _rate(worker: ComputeWorker) -> float:
    return device_tflops(device_name=worker.device_name, cuda=worker.device_type == "cuda", cpu_cores=worker.cpu_cores)


def _first_fitting(shape: ModelShape, plan: Plan, pool: str) -> str | None:
    """The first alternative that fits this pool, else another pool the plan fits as it is."""
    for label, other in _alternatives(shape, plan):
        need = estimate(shape, other).per_device_gb
        if pool_fit(pool, other, need)[0]:
            return f"{label}: about {need:.1f} GB per device"
    need = estimate(shape, plan).per_device_gb
    for other_pool in sorted(set(ComputeWorker.objects.exclude(pool=pool).values_list("pool", flat=True))):
        if pool_fit(other_pool, plan, need)[0]:
            return f"send it to pool {other_pool!r}, whose workers hold {need:.1f} GB per device"
    return None


def run_admit(*, run: TuningRun, values: dict, pool_check: bool = True) -> dict | None:
    """Refuse a run on a base without weights and, before it is queued (`pool_check`), a run its pool
    cannot hold; the estimate is noted on the run. A pool without a live worker is not refused: the run
    waits, and says so. Called by run_create before anything is written."""
    base_version, pool = run.base_version, run.pool
    version_trainable_check(version=base_version)
    if not pool_check or not base_version.spec:
        return None
    found = run_estimate(
        base_version=base_version, method=run.method, values=values, pool=pool, examples=run.dataset_size
    )
    if found["fits"] is False:
        raise ApplicationError(
            f"this run does not fit pool {pool!r}: it needs about {found['per_device_gb']:.1f} GB per device "
            f"on {found['devices']} device(s) ({found['method']}, {found['params'] / 1e9:.2f}B parameters); "
            f"{found['why']}",
            extra={"code": "does_not_fit", "field": "pool", "estimate": found},
        )
    RunEvent.objects.create(run=run, message=f"estimate on pool {pool}: {found['why']}", data=found)
    return found


def version_trainable_check(*, version: ModelVersion, use: str = "trained") -> None:
    """Refuse a version registered from a config alone: it has no weights to train or serve."""
    if version.config_only:
        raise ApplicationError(
            f"{version.name} is a config without weights, registered for estimates only: it cannot be {use}; "
            "register the checkpoint directory itself (`manage.py register_model PATH --name NAME`)",
            extra={"code": "config_only", "version": version.name},
        )


def estimate_request(
    *, base_version: ModelVersion, method: str, overrides: dict, pool: str = DEFAULT_POOL, split: str = "train"
) -> dict:
    """The estimate of a run as `tune --estimate` and the run form ask for it: the method's auto preset
    for the bank's size, then the submitted settings (training knobs and ESTIMATE_KEYS)."""
    from quizbank.selectors import dataset_questions

    refused = settings_problems({key: value for key, value in overrides.items() if key not in ESTIMATE_KEYS})
    if refused:
        raise ApplicationError(
            f"invalid settings: {'; '.join(refused[key] for key in sorted(refused))}",
            extra={"code": "not_settable", "fields": refused},
        )
    examples = len(dataset_questions(split=split))
    values = preset("lora" if method == "qlora" else method, dataset_size=max(examples, 1)) | overrides
    return run_estimate(base_version=base_version, method=method, values=values, pool=pool, examples=examples)
