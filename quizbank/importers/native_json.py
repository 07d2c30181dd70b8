"""The project's own bank format (schema: quizbank/schemas/bank.schema.json).

{"format": "quizsite-bank", "version": 1, "subject": "数学", "dataset": "...", "licence": "...",
 "questions": [{"type": "single_choice", "subject": "数学/四则运算", "stem": "...",
                "options": [{"key": "A", "text": "..."}, ...] or {"A": "...", ...},
                "answer": "C", "explanation": "...", "score": 2, "difficulty": 1}]}
"""

from __future__ import annotations

from decimal import Decimal

from quizbank.importers.base import QuestionRecord, RowError

FORMAT_NAME = "quizsite-bank"


def matches(data) -> bool:
    return isinstance(data, dict) and data.get("format") == FORMAT_NAME


def parse(data: dict, *, file_name: str) -> tuple[list[QuestionRecord], list[RowError]]:
    errors: list[RowError] = []
    if data.get("version") != 1:
        errors.append(RowError(file_name, None, "version", f"unsupported version {data.get('version')!r}; expected 1"))
    items = data.get("questions")
    if not isinstance(items, list):
        return [], [*errors, RowError(file_name, None, "questions", "must be a list")]

    records = []
    for row, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            errors.append(RowError(file_name, row, "(item)", "must be an object"))
            continue
        options, option_error = _options(item.get("options", []))
        if option_error:
            errors.append(RowError(file_name, row, "options", option_error))
            continue
        records.append(
            QuestionRecord(
                subject=str(item.get("subject") or data.get("subject") or ""),
                qtype=str(item.get("type", "single_choice")),
                stem=str(item.get("stem", "")),
                options=options,
                answer=str(item.get("answer", "")).strip(),
                explanation=str(item.get("explanation") or ""),
                score=Decimal(str(item.get("score", 1))) if _is_number(item.get("score", 1)) else item.get("score"),
                difficulty=item.get("difficulty"),
                source_file=file_name,
                source_row=row,
                source_dataset=str(item.get("dataset") or data.get("dataset") or ""),
                source_licence=str(item.get("licence") or data.get("licence") or ""),
            )
        )
    return records, errors


def _is_number(value) -> bool:
    return isinstance(value, int | float | str) and not isinstance(value, bool) and _decimal_ok(value)


def _decimal_ok(value) -> bool:
    try:
        Decimal(str(value))
    except ArithmeticError:
        return False
    return True


def _options(raw) -> tuple[list[dict], str | None]:
    if isinstance(raw, dict):
        return [{"key": str(key), "text": str(text)} for key, text in raw.items()], None
    if isinstance(raw, list):
        options = []
        for index, option in enumerate(raw):
            if isinstance(option, dict) and "key" in option and "text" in option:
                options.append({"key": str(option["key"]), "text": str(option["text"])})
            elif isinstance(option, str):
                options.append({"key": chr(ord("A") + index), "text": option})
            else:
                return [], f"option {index + 1} must be a string or {{'key', 'text'}}"
        return options, None
    return [], "must be a list or an object of key → text"
