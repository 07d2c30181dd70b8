"""The bank as training data files: the seed's Alpaca records, ShareGPT `conversations` JSONL with its
LLaMA-Factory dataset_info.json entry, OpenAI-style `messages` JSONL, and a LLaMA-Factory dataset folder. Only writing happens here: the records come from quizbank.prompt_inputs
(built with quizbank.prompts, as in training and serving), the rows from quizbank.selectors.

Two tasks: `explain` (each question → its answer and 解析) and `grade` (each answer a teacher graded →
the grading prompt and the teacher's marks as the grader's JSON)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from quizbank import prompts
from quizbank.models import Answer, Question
from quizbank.prompt_inputs import grading_records, question_records

DATASET_NAME = "quizsite"
GRADING_DATASET_NAME = "quizsite_grading"


def _write_json_list(items: Iterable[dict], out: Path) -> int:
    """A JSON list written item by item (flat memory for large banks)."""
    count = 0
    with out.open("w", encoding="utf-8") as handle:
        handle.write("[")
        for item in items:
            handle.write(",\n  " if count else "\n  ")
            handle.write(json.dumps(item, ensure_ascii=False))
            count += 1
        handle.write("\n]\n" if count else "]\n")
    return count


def export_alpaca(questions: Iterable[Question], out: Path) -> int:
    return write_alpaca(question_records(questions), out)


def write_alpaca(items: Iterable[dict], out: Path) -> int:
    out.parent.mkdir(parents=True, exist_ok=True)
    return _write_json_list(items, out)


def _write_json_lines(items: Iterable[dict], out: Path) -> int:
    out.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with out.open("w", encoding="utf-8") as handle:
        for item in items:
            handle.write(json.dumps(item, ensure_ascii=False) + "\n")
            count += 1
    return count


def messages_record(record: dict) -> dict:
    return {"messages": prompts.training_messages(record)}


def export_openai(questions: Iterable[Question], out: Path) -> int:
    return write_openai(question_records(questions), out)


def write_openai(items: Iterable[dict], out: Path) -> int:
    """One {"messages": [{"role": "user", ...}, {"role": "assistant", ...}]} per line (OpenAI's chat layout)."""
    return _write_json_lines((messages_record(record) for record in items), out)


SHAREGPT_FROM = {"user": "human", "assistant": "gpt"}
SHAREGPT_TAGS = {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt"}


def sharegpt_record(record: dict) -> dict:
    """{"conversations": [{"from": "human", "value": ...}, {"from": "gpt", "value": ...}]}, with the
    system prompt, if the chat has one, in its own "system" field (LLaMA-Factory's sharegpt layout)."""
    messages = prompts.training_messages(record)
    item: dict = {
        "conversations": [
            {"from": SHAREGPT_FROM[message["role"]], "value": message["content"]}
            for message in messages
            if message["role"] != "system"
        ]
    }
    system = "\n".join(message["content"] for message in messages if message["role"] == "system")
    if system:
        item["system"] = system
    return item


def export_sharegpt(questions: Iterable[Question], out: Path) -> int:
    return write_sharegpt(question_records(questions), out)


def write_sharegpt(items: Iterable[dict], out: Path) -> int:
    """ShareGPT JSONL, and its entry (named after the file) in dataset_info.json beside it, so the
    folder is a LLaMA-Factory dataset_dir: `--dataset_dir DIR --dataset <file name without extension>`."""
    count = _write_json_lines((sharegpt_record(record) for record in items), out)
    _dataset_info_update(out.parent, sharegpt_dataset_info(out.name, out.stem))
    return count


def sharegpt_dataset_info(file_name: str, dataset_name: str) -> dict:
    """LLaMA-Factory's dataset_info.json entry for a ShareGPT-format file."""
    return {
        dataset_name: {
            "file_name": file_name,
            "formatting": "sharegpt",
            "columns": {"messages": "conversations", "system": "system"},
            "tags": dict(SHAREGPT_TAGS),
        }
    }


def llamafactory_dataset_info(file_name: str, dataset_name: str = DATASET_NAME) -> dict:
    """LLaMA-Factory's dataset_info.json entry for an Alpaca-format file."""
    return {
        dataset_name: {
            "file_name": file_name,
            "formatting": "alpaca",
            "columns": {"prompt": "instruction", "query": "input", "response": "output"},
        }
    }


def _dataset_info_update(folder: Path, entries: dict) -> None:
    """Add entries to the folder's dataset_info.json, keeping those of other datasets already there."""
    info_path = folder / "dataset_info.json"
    info = json.loads(info_path.read_text(encoding="utf-8")) if info_path.exists() else {}
    info.update(entries)
    info_path.write_text(json.dumps(info, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def export_llamafactory(questions: Iterable[Question], out: Path) -> int:
    """A folder LLaMA-Factory reads as is: `--dataset_dir OUT --dataset quizsite`."""
    return write_llamafactory(question_records(questions), out, dataset_name=DATASET_NAME)


def write_llamafactory(items: Iterable[dict], out: Path, *, dataset_name: str) -> int:
    """The dataset file and its dataset_info.json entry; entries of other datasets already in the
    folder are kept, so the explanation and grading data can share one dataset_dir."""
    out.mkdir(parents=True, exist_ok=True)
    file_name = f"{dataset_name}.json"
    count = _write_json_list(items, out / file_name)
    _dataset_info_update(out, llamafactory_dataset_info(file_name, dataset_name))
    return count


# --- grading: teacher-graded answers → grader training data --------------------------------------


def export_grading(answers: Iterable[Answer], out: Path, *, format: str, examples: int = 0) -> int:
    items = grading_records(answers, examples=examples)
    if format == "alpaca":
        return write_alpaca(items, out)
    if format == "sharegpt":
        return write_sharegpt(items, out)
    if format == "openai":
        return write_openai(items, out)
    if format == "llamafactory":
        return write_llamafactory(items, out, dataset_name=GRADING_DATASET_NAME)
    raise ValueError(f"grading data has no {format!r} format")
