"""The bank as training data files: the seed's Alpaca records, OpenAI-style `messages` JSONL, and a
LLaMA-Factory dataset folder. Only writing happens here: the records come from quizbank.prompt_inputs
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


def messages_record(record: dict) -> dict:
    return {"messages": prompts.training_messages(record)}


def export_sharegpt(questions: Iterable[Question], out: Path) -> int:
    return write_sharegpt(question_records(questions), out)


def write_sharegpt(items: Iterable[dict], out: Path) -> int:
    """One {"messages": [{"role": "user", ...}, {"role": "assistant", ...}]} per line."""
    out.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with out.open("w", encoding="utf-8") as handle:
        for record in items:
            handle.write(json.dumps(messages_record(record), ensure_ascii=False) + "\n")
            count += 1
    return count


def llamafactory_dataset_info(file_name: str, dataset_name: str = DATASET_NAME) -> dict:
    """LLaMA-Factory's dataset_info.json entry for an Alpaca-format file."""
    return {
        dataset_name: {
            "file_name": file_name,
            "formatting": "alpaca",
            "columns": {"prompt": "instruction", "query": "input", "response": "output"},
        }
    }


def export_llamafactory(questions: Iterable[Question], out: Path) -> int:
    """A folder LLaMA-Factory reads as is: `--dataset_dir OUT --dataset quizsite`."""
    return write_llamafactory(question_records(questions), out, dataset_name=DATASET_NAME)


def write_llamafactory(items: Iterable[dict], out: Path, *, dataset_name: str) -> int:
    """The dataset file and its dataset_info.json entry; entries of other datasets already in the
    folder are kept, so the explanation and grading data can share one dataset_dir."""
    out.mkdir(parents=True, exist_ok=True)
    file_name = f"{dataset_name}.json"
    count = _write_json_list(items, out / file_name)
    info_path = out / "dataset_info.json"
    info = json.loads(info_path.read_text(encoding="utf-8")) if info_path.exists() else {}
    info.update(llamafactory_dataset_info(file_name, dataset_name))
    info_path.write_text(json.dumps(info, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return count


# --- grading: teacher-graded answers → grader training data --------------------------------------


def export_grading(answers: Iterable[Answer], out: Path, *, format: str, examples: int = 0) -> int:
    items = grading_records(answers, examples=examples)
    if format == "alpaca":
        return write_alpaca(items, out)
    if format == "sharegpt":
        return write_sharegpt(items, out)
    if format == "llamafactory":
        return write_llamafactory(items, out, dataset_name=GRADING_DATASET_NAME)
    raise ValueError(f"grading data has no {format!r} format")
