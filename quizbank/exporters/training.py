"""The bank as training data: the seed's Alpaca records, OpenAI-style `messages` JSONL, and a
LLaMA-Factory dataset folder. Record text comes from quizbank.prompts, as in training and serving."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path

from quizbank import prompts
from quizbank.models import Question

DATASET_NAME = "quizsite"


def question_record(question: Question) -> dict | None:
    return prompts.instruction_record(
        qtype=question.qtype,
        stem=question.stem,
        options=question.options,
        answer=question.answer,
        explanation=question.explanation,
        answer_data=question.answer_data,
    )


def records(questions: Iterable[Question]) -> Iterator[dict]:
    for question in questions:
        record = question_record(question)
        if record is not None:
            yield record


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
    out.parent.mkdir(parents=True, exist_ok=True)
    return _write_json_list(records(questions), out)


def messages_record(record: dict) -> dict:
    return {"messages": prompts.training_messages(record)}


def export_sharegpt(questions: Iterable[Question], out: Path) -> int:
    """One {"messages": [{"role": "user", ...}, {"role": "assistant", ...}]} per line."""
    out.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with out.open("w", encoding="utf-8") as handle:
        for record in records(questions):
            handle.write(json.dumps(messages_record(record), ensure_ascii=False) + "\n")
            count += 1
    return count


def llamafactory_dataset_info(file_name: str) -> dict:
    """LLaMA-Factory's dataset_info.json entry for an Alpaca-format file."""
    return {
        DATASET_NAME: {
            "file_name": file_name,
            "formatting": "alpaca",
            "columns": {"prompt": "instruction", "query": "input", "response": "output"},
        }
    }


def export_llamafactory(questions: Iterable[Question], out: Path) -> int:
    """A folder LLaMA-Factory reads as is: `--dataset_dir OUT --dataset quizsite`."""
    out.mkdir(parents=True, exist_ok=True)
    file_name = f"{DATASET_NAME}.json"
    count = _write_json_list(records(questions), out / file_name)
    info = json.dumps(llamafactory_dataset_info(file_name), ensure_ascii=False, indent=2)
    (out / "dataset_info.json").write_text(info + "\n", encoding="utf-8")
    return count
