"""Run with LLaMA-Factory's own interpreter: LoRA SFT for the side-by-side bench.

    python tests/compat/llamafactory_train.py DATASET_DIR MODEL_DIR OUTPUT_DIR [SETTINGS_JSON]

SETTINGS_JSON (optional) holds LLaMA-Factory options laid over its defaults below, e.g.
`{"disable_gradient_checkpointing": true}`. Prints one JSON line with LLaMA-Factory's train
results, plus `real_tokens`: the tokens it trained on, padding left out, so that a packed run
(whose sequences are padded to cutoff_len + 1 and counted whole by `effective_tokens_per_sec`)
is measured on the same tokens as an unpacked one.
"""

import importlib.machinery
import json
import sys
import types
from pathlib import Path


def main() -> int:
    dataset_dir, model_dir, output_dir = sys.argv[1:4]
    settings = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}
    # LLaMA-Factory imports torchaudio at start; PyPI's torchaudio does not load beside the CPU torch.
    stand_in = types.ModuleType("torchaudio")
    stand_in.__spec__ = importlib.machinery.ModuleSpec("torchaudio", None)
    sys.modules.setdefault("torchaudio", stand_in)
    from llamafactory.train.sft import workflow
    from llamafactory.train.tuner import run_exp
    from transformers import AutoTokenizer

    pad = AutoTokenizer.from_pretrained(model_dir).pad_token_id
    counted = {}

    def real_tokens(dataset, metrics, stage):
        # a packed sequence is filled with the pad id (never in the bank's text) up to cutoff_len + 1
        tokens = sum(sum(1 for token in row["input_ids"] if token != pad) for row in dataset)
        counted["real_tokens"] = tokens * metrics["epoch"]
        return counted["real_tokens"] / metrics["train_runtime"]

    workflow.calculate_tps = real_tokens  # the name its sft workflow calls
    run_exp(
        {
            "stage": "sft",
            "do_train": True,
            "model_name_or_path": model_dir,
            "dataset": "quizsite",
            "dataset_dir": dataset_dir,
            "template": "deepseek3",
            "finetuning_type": "lora",
            "lora_rank": 8,
            "lora_alpha": 16,
            "lora_dropout": 0.0,
            "lora_target": "all",
            "output_dir": output_dir,
            "cutoff_len": 1024,
            "per_device_train_batch_size": 4,
            "gradient_accumulation_steps": 1,
            "learning_rate": 2e-4,
            "num_train_epochs": 1.0,
            "lr_scheduler_type": "cosine",
            "logging_steps": 10,
            "save_strategy": "no",
            "report_to": "none",
            "overwrite_output_dir": True,
            "overwrite_cache": True,
            "include_effective_tokens_per_second": True,
            "seed": 42,
            "use_cpu": True,
            "plot_loss": False,
            "dataloader_num_workers": 0,
            "preprocessing_num_workers": 1,
        }
        | settings
    )
    results = json.loads((Path(output_dir) / "train_results.json").read_text())
    print(json.dumps(results | counted))
    return 0


if __name__ == "__main__":
    sys.exit(main())
