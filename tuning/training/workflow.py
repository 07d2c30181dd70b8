"""One training run, top to bottom: tokenizer → data → model/adapter → collator → trainer → merge/save → evaluate."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path

import torch
from peft import LoraConfig, PeftModel, get_peft_model, prepare_model_for_kbit_training
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    EarlyStoppingCallback,
    Trainer,
    TrainingArguments,
    set_seed,
)
from transformers.trainer_callback import PrinterCallback
from transformers.utils import logging as hf_logging

from tuning.training import attention, distributed
from tuning.training.callbacks import ProgressCallback, StopAtLossCallback
from tuning.training.config import Hardware, TuningConfig, batch_per_process, downgrade_precision, validate
from tuning.training.data import (
    FlatCollator,
    PadCollator,
    encode_all,
    length_histogram,
    load_records,
    pack_examples,
    split_records,
)
from tuning.training.evaluate import evaluate_records
from tuning.training.hardware import detect_hardware
from tuning.training.result import TrainingResult


def run_training(
    config: TuningConfig,
    *,
    report: Callable[[dict], None] = lambda event: None,
    should_cancel: Callable[[], bool] | None = None,
    resume: bool = False,
    hardware: Hardware | None = None,
    eval_limit: int = 64,
) -> TrainingResult:
    if config.devices > 1 and not distributed.in_rank():
        from tuning.training.launch import run_on_devices  # one process per device, each running this function

        return run_on_devices(config, report=report, should_cancel=should_cancel, resume=resume)
    hardware = hardware or detect_hardware()
    validate(config, hardware=hardware)
    hf_logging.disable_progress_bar()  # progress goes through `report`, not to the console
    for warning in downgrade_precision(config, hardware):
        report({"level": "warn", "message": warning})
    set_seed(config.seed)
    output_dir = Path(config.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    main = distributed.is_main()  # on several devices, rank 0 alone writes
    if main:
        config.save(output_dir / "tuning_config.json")

    # tokenizer
    tokenizer = AutoTokenizer.from_pretrained(config.model_name_or_path)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token

    # data
    train_set, val_set, val_records = training_data(config, tokenizer, report)

    # model / adapter
    model = load_model(config, hardware)
    model = prepare_model(model, config)

    # trainer
    checkpoints = output_dir / "checkpoints"
    trainer = Trainer(
        model=model,
        args=training_arguments(
            config, checkpoints, n_examples=len(train_set), has_val=bool(val_set), hardware=hardware
        ),
        train_dataset=train_set,
        eval_dataset=val_set or None,
        data_collator=batch_collator(config, tokenizer),
        callbacks=callbacks(config, report, should_cancel),
    )
    trainer.remove_callback(PrinterCallback)
    last = resume_checkpoint(checkpoints, devices=config.devices) if resume else None
    if last:
        report({"message": f"resuming from {Path(last).name}"})
    started = time.monotonic()
    train_output = trainer.train(resume_from_checkpoint=last)
    seconds = time.monotonic() - started

    # merge / save
    model_dir = output_dir / "model"
    metrics = training_metrics(trainer, train_output, train_set, seconds)
    resumed_from = Path(last).name if last else None
    if not main:
        return TrainingResult(model_dir=model_dir, metrics=metrics, resumed_from=resumed_from)
    save_merged(
        trainer.model, tokenizer, model_dir, base_path=config.model_name_or_path if config.quantization_bit else None
    )

    # evaluate: task metrics on the held-out records
    if val_records:
        merged = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
        metrics["eval"] = evaluate_records(merged, tokenizer, val_records[:eval_limit])
        report({"message": "evaluated on the held-out split", "metrics": metrics["eval"]})
    (output_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return TrainingResult(model_dir=model_dir, metrics=metrics, resumed_from=resumed_from)


def training_data(config: TuningConfig, tokenizer, report) -> tuple[list[dict], list[dict], list[dict]]:
    """The encoded training and validation examples, and the validation records they were made from."""
    train_records, val_records = split_records(
        load_records(Path(config.dataset_path)), val_size=config.val_size, seed=config.seed
    )
    train_set = encode_all(tokenizer, train_records, stage=config.stage, cutoff_len=config.cutoff_len)
    val_set = encode_all(tokenizer, val_records, stage=config.stage, cutoff_len=config.cutoff_len)
    histogram = length_histogram(train_set, cutoff_len=config.cutoff_len)
    report({"message": "dataset encoded", "histogram": histogram})
    if histogram["truncated"]:
        report(
            {"level": "warn", "message": f"{histogram['truncated']} examples are cut at cutoff_len {config.cutoff_len}"}
        )
    if config.packing:
        train_set = pack_examples(train_set, cutoff_len=config.cutoff_len)
    return train_set, val_set, val_records


def resume_checkpoint(checkpoints: Path, *, devices: int) -> str | None:
    """The checkpoint to resume from, refused if it was written by another number of processes (its
    optimiser and random states are per process)."""
    last = last_complete_checkpoint(checkpoints)
    written_by = last and distributed.checkpoint_world_size(Path(last))
    if written_by and written_by != devices:
        raise ValueError(
            f"{Path(last).name} was written by {written_by} processes; resume it with devices {written_by}"
        )
    return last


def last_complete_checkpoint(checkpoints: Path) -> str | None:
    """The newest checkpoint that was written to the end (a worker killed while saving leaves one
    without its trainer state, which would fail every resume)."""
    if not checkpoints.is_dir():
        return None
    complete = [
        path
        for path in checkpoints.glob("checkpoint-*")
        if path.name.split("-")[-1].isdigit() and (path / "trainer_state.json").is_file()
    ]
    return str(max(complete, key=lambda path: int(path.name.split("-")[-1]))) if complete else None


def training_arguments(
    config: TuningConfig, checkpoints: Path, *, n_examples: int, has_val: bool, hardware: Hardware
) -> TrainingArguments:
    per_epoch = "steps" if config.save_steps else "epoch"
    batch, accumulation = batch_per_process(config)  # the processes together take one process's global batch
    return TrainingArguments(
        output_dir=str(checkpoints),
        learning_rate=config.learning_rate,
        per_device_train_batch_size=batch,
        per_device_eval_batch_size=batch,
        gradient_accumulation_steps=accumulation,
        num_train_epochs=config.num_train_epochs,
        warmup_steps=warmup_steps(config, n_examples),
        weight_decay=config.weight_decay,
        max_grad_norm=config.max_grad_norm,
        lr_scheduler_type="cosine",
        logging_steps=config.logging_steps,
        # the run page's tokens per second: every token through the model (padding-free batches have
        # no attention mask to tell padding by)
        include_num_input_tokens_seen="all",
        save_strategy=per_epoch,
        save_steps=config.save_steps or 500,
        save_total_limit=2,
        eval_strategy=per_epoch if has_val else "no",
        eval_steps=config.save_steps or None,
        load_best_model_at_end=bool(config.early_stopping_patience),
        metric_for_best_model="eval_loss" if config.early_stopping_patience else None,
        greater_is_better=False if config.early_stopping_patience else None,
        train_sampling_strategy="group_by_length" if config.group_by_length else "random",
        bf16=config.bf16,
        fp16=config.fp16,
        seed=config.seed,
        data_seed=config.seed,
        report_to=[],
        disable_tqdm=True,
        remove_unused_columns=False,
        dataloader_num_workers=0,
        use_cpu=not hardware.cuda,
        **distributed.training_arguments(config, cuda=hardware.cuda),
    )


def batch_collator(config: TuningConfig, tokenizer):
    return FlatCollator() if config.padding_free else PadCollator(tokenizer.pad_token_id)


def callbacks(config: TuningConfig, report, should_cancel) -> list:
    found = [ProgressCallback(report, should_cancel=should_cancel), StopAtLossCallback(config.stop_at_loss)]
    if config.early_stopping_patience:
        found.append(EarlyStoppingCallback(early_stopping_patience=config.early_stopping_patience))
    return found


def warmup_steps(config: TuningConfig, n_examples: int) -> int:
    steps_per_epoch = math.ceil(n_examples / (config.per_device_train_batch_size * config.gradient_accumulation_steps))
    return int(steps_per_epoch * config.num_train_epochs * config.warmup_ratio)


def load_model(config: TuningConfig, hardware: Hardware):
    options = {"attn_implementation": attention.register()} if config.padding_free else {}
    if config.quantization_bit == 4:
        from transformers import BitsAndBytesConfig

        quantization = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16 if hardware.bf16 else torch.float16,
        )
        model = AutoModelForCausalLM.from_pretrained(
            config.model_name_or_path, quantization_config=quantization, device_map={"": 0}, **options
        )
        return prepare_model_for_kbit_training(model)
    return AutoModelForCausalLM.from_pretrained(config.model_name_or_path, dtype=torch.float32, **options)


def prepare_model(model, config: TuningConfig):
    if config.finetuning_type == "lora":
        target = (
            "all-linear" if config.lora_target == "all" else [name.strip() for name in config.lora_target.split(",")]
        )
        lora = LoraConfig(
            r=config.lora_rank,
            lora_alpha=config.lora_alpha,
            lora_dropout=config.lora_dropout,
            target_modules=target,
            task_type="CAUSAL_LM",
        )
        return get_peft_model(model, lora)
    if config.finetuning_type == "freeze":
        for name, parameter in model.named_parameters():
            parameter.requires_grad = is_trainable_in_freeze(name, config, model.config.num_hidden_layers)
    return model


def is_trainable_in_freeze(name: str, config: TuningConfig, n_layers: int) -> bool:
    """Freeze: only the last N layers train, and of those only the named modules if given."""
    top = {f"layers.{index}." for index in range(n_layers - config.freeze_trainable_layers, n_layers)}
    if not any(layer in name for layer in top):
        return False
    if config.freeze_trainable_modules == "all":
        return True
    modules = [module.strip() for module in config.freeze_trainable_modules.split(",")]
    return any(f".{module}." in name for module in modules)


def training_metrics(trainer, train_output, train_set, seconds: float) -> dict:
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    eval_losses = [entry["eval_loss"] for entry in trainer.state.log_history if "eval_loss" in entry]
    tokens = sum(sum(1 for label in example["labels"] if label != -100) for example in train_set)
    return {
        "train_loss": train_output.training_loss,
        "final_logged_loss": losses[-1] if losses else None,
        "best_eval_loss": min(eval_losses) if eval_losses else None,
        "steps": trainer.state.global_step,
        "max_steps": trainer.state.max_steps,
        "epochs": trainer.state.epoch,
        "train_seconds": round(seconds, 1),
        "train_examples": len(train_set),
        "trained_tokens_per_epoch": tokens,
        "train_tokens_per_epoch": sum(len(example["input_ids"]) for example in train_set),
        "loss_history": [[entry["step"], entry["loss"]] for entry in trainer.state.log_history if "loss" in entry],
        "eval_loss_history": [
            [entry["step"], entry["eval_loss"]] for entry in trainer.state.log_history if "eval_loss" in entry
        ],
    }


def save_merged(model, tokenizer, model_dir: Path, *, base_path: str | None = None) -> None:
    """A self-contained model directory: adapters merged in, safetensors, tokenizer and chat template.

    A LoRA adapter is also kept on its own beside it (`adapter/`), for serving base + adapters. A QLoRA
    adapter (`base_path` given) is merged into the base loaded again unquantised (bf16), not into its
    4-bit weights: the merged model is an ordinary checkpoint vLLM serves, without rounding the adapter
    into the quantisation grid.
    """
    if isinstance(model, PeftModel):
        adapter_dir = model_dir.parent / "adapter"
        model.save_pretrained(adapter_dir, safe_serialization=True)
        if base_path is not None:
            base = AutoModelForCausalLM.from_pretrained(base_path, dtype=torch.bfloat16)
            model = PeftModel.from_pretrained(base, adapter_dir).merge_and_unload()
        else:
            model = model.merge_and_unload()
    model_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(model_dir, safe_serialization=True)
    tokenizer.save_pretrained(model_dir)
