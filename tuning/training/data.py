"""Instruction records → token ids, with the chat template of the tokenizer being trained."""

from __future__ import annotations

import json
import random
from pathlib import Path

import torch
from transformers import DataCollatorWithFlattening

from quizbank import prompts

IGNORE_INDEX = -100


def load_records(path: Path) -> list[dict]:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def prompt_ids(tokenizer, record: dict) -> list[int]:
    """The ids the model server builds for the same question (the chat-template parity test checks it)."""
    encoded = tokenizer.apply_chat_template(prompts.prompt_messages(record), add_generation_prompt=True, tokenize=True)
    return list(encoded["input_ids"] if hasattr(encoded, "keys") else encoded)


def encode_sft(tokenizer, record: dict, *, cutoff_len: int) -> dict:
    """Prompt tokens are masked out of the loss; answer tokens (with end-of-sentence) are learnt."""
    prompt = prompt_ids(tokenizer, record)
    answer = tokenizer(record["output"] + tokenizer.eos_token, add_special_tokens=False)["input_ids"]
    input_ids = (prompt + answer)[:cutoff_len]
    labels = ([IGNORE_INDEX] * len(prompt) + answer)[:cutoff_len]
    return {"input_ids": input_ids, "labels": labels}


def encode_pt(tokenizer, record: dict, *, cutoff_len: int) -> dict:
    """Continued pre-training: the whole text is learnt."""
    text = "\n\n".join(part for part in (record["instruction"], record.get("input", ""), record["output"]) if part)
    ids = [tokenizer.bos_token_id, *tokenizer(text, add_special_tokens=False)["input_ids"], tokenizer.eos_token_id]
    ids = ids[:cutoff_len]
    return {"input_ids": ids, "labels": list(ids)}


def encode_all(tokenizer, records: list[dict], *, stage: str, cutoff_len: int) -> list[dict]:
    encode = encode_sft if stage == "sft" else encode_pt
    return [encode(tokenizer, record, cutoff_len=cutoff_len) for record in records]


def split_records(records: list[dict], *, val_size: float, seed: int) -> tuple[list[dict], list[dict]]:
    if val_size <= 0 or len(records) < 10:
        return records, []
    shuffled = records[:]
    random.Random(seed).shuffle(shuffled)
    n_val = max(1, int(len(records) * val_size))
    return shuffled[n_val:], shuffled[:n_val]


def length_histogram(examples: list[dict], *, cutoff_len: int) -> dict:
    lengths = sorted(len(example["input_ids"]) for example in examples)
    return {
        "n": len(lengths),
        "max": lengths[-1] if lengths else 0,
        "p50": lengths[len(lengths) // 2] if lengths else 0,
        "truncated": sum(length >= cutoff_len for length in lengths),
    }


class PadCollator:
    """Pads a batch to its longest example (batches are length-grouped by the trainer)."""

    def __init__(self, pad_token_id: int):
        self.pad_token_id = pad_token_id

    def __call__(self, batch: list[dict]) -> dict:
        width = max(len(example["input_ids"]) for example in batch)
        input_ids, labels, attention = [], [], []
        for example in batch:
            pad = width - len(example["input_ids"])
            input_ids.append(example["input_ids"] + [self.pad_token_id] * pad)
            labels.append(example["labels"] + [IGNORE_INDEX] * pad)
            attention.append([1] * len(example["input_ids"]) + [0] * pad)
        return {
            "input_ids": torch.tensor(input_ids),
            "labels": torch.tensor(labels),
            "attention_mask": torch.tensor(attention),
        }


class FlatCollator:
    """Padding-free batches: the batch as one row, positions restarting at each example, and the example
    boundaries (`cu_seq_lens_q`) for the attention (`tuning.training.attention`), so no padding is computed.

    The output layer and the loss run only where a learnt token is predicted (`logits_to_keep`, with the
    targets as `shift_labels`): prompt positions are masked out of the loss, so their logits were wasted.
    """

    def __init__(self):
        self.flatten = DataCollatorWithFlattening(return_flash_attn_kwargs=True)

    def __call__(self, batch: list[dict]) -> dict:
        features = self.flatten(batch)  # each example's first label is IGNORE_INDEX: never predicted across examples
        labels = features["labels"][0]
        targets = torch.cat([labels[1:], labels.new_full((1,), IGNORE_INDEX)])
        predicting = (targets != IGNORE_INDEX).nonzero().squeeze(1)
        features["logits_to_keep"] = predicting
        features["shift_labels"] = targets[predicting].unsqueeze(0)
        return features


def pack_examples(examples: list[dict], *, cutoff_len: int) -> list[dict]:
    """Continued pre-training: concatenate examples into full-length sequences (no padding)."""
    ids: list[int] = [token for example in examples for token in example["input_ids"]]
    blocks = [ids[start : start + cutoff_len] for start in range(0, len(ids), cutoff_len)]
    return [{"input_ids": block, "labels": list(block)} for block in blocks if len(block) > 1]
