"""One training run, top to bottom: tokenizer → data → model/adapter → collator → trainer → merge/save."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import AutoModelForCausalLM, AutoTokenizer, Trainer, TrainingArguments, set_seed

from tuning.training.callbacks import ProgressCallback, StopAtLossCallback
from tuning.training.config import TuningConfig, validate
from tuning.training.data import PadCollator, encode_all, length_histogram, load_records, split_records


@dataclass
class TrainingResult:
    model_dir: Path
    metrics: dict


def run_training(
    config: TuningConfig,
    *,
    report: Callable[[dict], None] = lambda event: None,
    should_cancel: Callable[[], bool] | None = None,
) -> TrainingResult:
    validate(config)
    set_seed(config.seed)
    output_dir = Path(config.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    config.save(output_dir / "tuning_config.json")

    # tokenizer
    tokenizer = AutoTokenizer.from_pretrained(config.model_name_or_path)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token

    # data
    train_records, val_records = split_records(
        load_records(Path(config.dataset_path)), val_size=config.val_size, seed=config.seed
    )
    train_set = encode_all(tokenizer, train_records, stage=config.stage, cutoff_len=config.cutoff_len)
    val_set = encode_all(tokenizer, val_records, stage=config.stage, cutoff_len=config.cutoff_len)
    report({"message": "dataset encoded", "histogram": length_histogram(train_set, cutoff_len=config.cutoff_len)})

    # model / adapter
    model = AutoModelForCausalLM.from_pretrained(config.model_name_or_path, dtype=torch.float32)
    model = prepare_model(model, config)

    # trainer
    args = TrainingArguments(
        output_dir=str(output_dir / "checkpoints"),
        learning_rate=config.learning_rate,
        per_device_train_batch_size=config.per_device_train_batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        num_train_epochs=config.num_train_epochs,
        warmup_steps=warmup_steps(config, len(train_set)),
        weight_decay=config.weight_decay,
        lr_scheduler_type="cosine",
        logging_steps=config.logging_steps,
        save_strategy="steps" if config.save_steps else "no",
        save_steps=config.save_steps or 500,
        eval_strategy="epoch" if val_set else "no",
        bf16=config.bf16,
        fp16=config.fp16,
        seed=config.seed,
        report_to=[],
        disable_tqdm=True,
        remove_unused_columns=False,
        dataloader_num_workers=0,
        use_cpu=not torch.cuda.is_available(),
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=train_set,
        eval_dataset=val_set or None,
        data_collator=PadCollator(tokenizer.pad_token_id),
        callbacks=[ProgressCallback(report, should_cancel=should_cancel), StopAtLossCallback(config.stop_at_loss)],
    )
    started = time.monotonic()
    train_output = trainer.train()
    seconds = time.monotonic() - started

    # merge / save
    model_dir = output_dir / "model"
    save_merged(trainer.model, tokenizer, model_dir)
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    metrics = {
        "train_loss": train_output.training_loss,
        "final_logged_loss": losses[-1] if losses else None,
        "steps": trainer.state.global_step,
        "epochs": trainer.state.epoch,
        "train_seconds": round(seconds, 1),
        "train_examples": len(train_set),
        "train_tokens_per_epoch": sum(len(example["input_ids"]) for example in train_set),
    }
    (output_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return TrainingResult(model_dir=model_dir, metrics=metrics)


def warmup_steps(config: TuningConfig, n_examples: int) -> int:
    steps_per_epoch = math.ceil(n_examples / (config.per_device_train_batch_size * config.gradient_accumulation_steps))
    return int(steps_per_epoch * config.num_train_epochs * config.warmup_ratio)


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
        n_layers = model.config.num_hidden_layers
        trainable = {f"layers.{index}." for index in range(n_layers - config.freeze_trainable_layers, n_layers)}
        for name, parameter in model.named_parameters():
            parameter.requires_grad = any(part in name for part in trainable)
    return model


def save_merged(model, tokenizer, model_dir: Path) -> None:
    """A self-contained model directory: adapters merged in, safetensors, tokenizer and chat template.

    A LoRA adapter is also kept on its own beside it (`adapter/`), for serving base + adapters.
    """
    if isinstance(model, PeftModel):
        model.save_pretrained(model_dir.parent / "adapter", safe_serialization=True)
        model = model.merge_and_unload()
    model_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(model_dir, safe_serialization=True)
    tokenizer.save_pretrained(model_dir)
