"""Run with LLaMA-Factory's own interpreter (a separate venv, never a project dependency):

    python tests/compat/llamafactory_check.py DATASET_DIR MODEL_DIR EXPECTED_RECORDS

Loads the exported folder with LLaMA-Factory's data loader exactly as training would, and
prints `COMPAT llamafactory ok records=<n> ...` or fails.
"""

import importlib.machinery
import sys
import tempfile
import types


def main() -> int:
    dataset_dir, model_dir, expected = sys.argv[1], sys.argv[2], int(sys.argv[3])
    # LLaMA-Factory imports torchaudio at start; PyPI's torchaudio does not load beside the CPU
    # torch, and text data never needs it.
    stand_in = types.ModuleType("torchaudio")
    stand_in.__spec__ = importlib.machinery.ModuleSpec("torchaudio", None)
    sys.modules.setdefault("torchaudio", stand_in)
    from llamafactory.data import get_dataset, get_template_and_fix_tokenizer
    from llamafactory.hparams import get_train_args
    from llamafactory.model import load_tokenizer

    with tempfile.TemporaryDirectory() as output_dir:
        model_args, data_args, training_args, finetuning_args, _ = get_train_args(
            {
                "stage": "sft",
                "do_train": True,
                "model_name_or_path": model_dir,
                "dataset": "quizsite",
                "dataset_dir": dataset_dir,
                "template": "deepseek3",
                "finetuning_type": "lora",
                "output_dir": output_dir,
                "cutoff_len": 1024,
                "overwrite_cache": True,
                "report_to": "none",
                "per_device_train_batch_size": 1,
            }
        )
        tokenizer_module = load_tokenizer(model_args)
        template = get_template_and_fix_tokenizer(tokenizer_module["tokenizer"], data_args)
        dataset = get_dataset(template, model_args, data_args, training_args, "sft", **tokenizer_module)[
            "train_dataset"
        ]
    n = len(dataset)
    if n != expected:
        print(f"COMPAT llamafactory FAILED records={n} expected={expected}")
        return 1
    first = dataset[0]
    learnt = sum(label != -100 for label in first["labels"])
    print(f"COMPAT llamafactory ok records={n} first_tokens={len(first['input_ids'])} first_answer_tokens={learnt}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
