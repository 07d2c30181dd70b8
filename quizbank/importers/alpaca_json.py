"""The seed's instruction data: a JSON list of {"instruction", "input", "output"}.

Records in the project's own prompt format (options in the input, "答案：X" in the output)
come back as single-choice questions; any other record becomes a short-answer question
whose reference answer is the output.
"""

from __future__ import annotations

from quizbank import prompts
from quizbank.importers.base import QuestionRecord, RowError
from quizbank.models import QuestionType

KEYS = {"instruction", "input", "output"}


def matches(data) -> bool:
    return (
        isinstance(data, list)
        and bool(data)
        and all(isinstance(item, dict) for item in data[:5])
        and all({"instruction", "output"} <= set(item) for item in data[:5])
    )


def parse(data: list, *, file_name: str, subject: str = "") -> tuple[list[QuestionRecord], list[RowError]]:
    records: list[QuestionRecord] = []
    errors: list[RowError] = []
    for row, item in enumerate(data, start=1):
        if not isinstance(item, dict):
            errors.append(RowError(file_name, row, "(item)", "must be an object"))
            continue
        missing = sorted({"instruction", "output"} - set(item))
        if missing:
            errors.append(RowError(file_name, row, missing[0], "is missing"))
            continue
        wrong_type = [key for key in KEYS & set(item) if not isinstance(item[key], str)]
        if wrong_type:
            errors.append(RowError(file_name, row, wrong_type[0], "must be a string"))
            continue
        records.append(_record(item, file_name=file_name, row=row, subject=subject))
    return records, errors


def _record(item: dict, *, file_name: str, row: int, subject: str) -> QuestionRecord:
    common = {"subject": subject, "source_file": file_name, "source_row": row, "source_dataset": "alpaca"}
    choice = prompts.parse_choice_input(item.get("input", ""))
    parsed = prompts.parse_output(item["output"])
    if choice and parsed.answer:
        stem, options = choice
        return QuestionRecord(
            qtype=QuestionType.SINGLE_CHOICE,
            stem=stem,
            options=options,
            answer=parsed.answer,
            explanation=parsed.explanation if parsed.explanation != item["output"].strip() else "",
            **common,
        )
    stem = item["instruction"].strip()
    if item.get("input", "").strip():
        stem += "\n\n" + item["input"].strip()
    answer, _, explanation = item["output"].partition(f"\n{prompts.EXPLANATION_PREFIX}")
    return QuestionRecord(
        qtype=QuestionType.SHORT_ANSWER, stem=stem, answer=answer.strip(), explanation=explanation.strip(), **common
    )
