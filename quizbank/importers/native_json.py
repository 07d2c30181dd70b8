"""The project's own bank format (schema: quizbank/schemas/bank.schema.json).

{"format": "quizsite-bank", "version": 1, "subject": "数学", "dataset": "...", "licence": "...",
 "questions": [{"type": "single_choice", "subject": "数学/四则运算", "stem": "...",
                "options": [{"key": "A", "text": "..."}, ...] or ["...", ...] or {"A": "...", ...},
                "answer": "C", "explanation": "...", "score": 2, "difficulty": 1, ...}]}
Every QuestionRecord field may be given per question (answer_data, tags, knowledge_points...).
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation

from quizbank.importers.base import ImportSource, ParseStream, QuestionRecord, RowError
from quizbank.importers.registry import Format

FORMAT_NAME = "quizsite-bank"


def sniff(head: str, file_name: str) -> bool:
    return head.lstrip().startswith("{") and f'"{FORMAT_NAME}"' in head[:2000]


def parse(source: ImportSource) -> ParseStream:
    name = source.file_name
    try:
        data = json.loads(source.text())
    except json.JSONDecodeError as exc:
        yield RowError(name, exc.lineno, "(json)", f"invalid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})")
        return
    if not isinstance(data, dict) or data.get("format") != FORMAT_NAME:
        yield RowError(name, None, "format", f"expected \"format\": \"{FORMAT_NAME}\"")
        return
    if data.get("version") != 1:
        yield RowError(name, None, "version", f"unsupported version {data.get('version')!r}; expected 1")
        return
    items = data.get("questions")
    if not isinstance(items, list):
        yield RowError(name, None, "questions", "must be a list")
        return
    for row, item in enumerate(items, start=1):
        yield record_from_item(item, data=data, file_name=name, row=row, default_subject=source.subject)


def record_from_item(item, *, data: dict, file_name: str, row: int, default_subject: str) -> QuestionRecord | RowError:
    if not isinstance(item, dict):
        return RowError(file_name, row, "(item)", "must be an object")
    options, option_error = _options(item.get("options", []))
    if option_error:
        return RowError(file_name, row, "options", option_error)
    for number_field in ("score", "partial_score"):
        value = item.get(number_field)
        if value is not None and not _is_number(value):
            return RowError(file_name, row, number_field, f"{value!r} is not a number")
    return QuestionRecord(
        subject=str(item.get("subject") or data.get("subject") or default_subject),
        qtype=str(item.get("type", "single_choice")),
        stem=str(item.get("stem", "")),
        stem_format=str(item.get("stem_format", "plain")),
        options=options,
        answer=str(item.get("answer", "")).strip(),
        answer_data=item.get("answer_data") or {},
        explanation=str(item.get("explanation") or ""),
        general_feedback=str(item.get("general_feedback") or ""),
        score=Decimal(str(item.get("score", 1))),
        partial_score=Decimal(str(item["partial_score"])) if item.get("partial_score") is not None else None,
        difficulty=item.get("difficulty"),
        tags=[str(tag) for tag in item.get("tags", [])],
        knowledge_points=[str(point) for point in item.get("knowledge_points", [])],
        source_file=file_name,
        source_row=row,
        source_dataset=str(item.get("dataset") or data.get("dataset") or ""),
        source_licence=str(item.get("licence") or data.get("licence") or ""),
    )


def _is_number(value) -> bool:
    if isinstance(value, bool):
        return False
    try:
        return Decimal(str(value)).is_finite()
    except InvalidOperation:
        return False


def _options(raw) -> tuple[list[dict], str | None]:
    if isinstance(raw, dict):
        return [{"key": str(key), "text": str(text)} for key, text in raw.items()], None
    if not isinstance(raw, list):
        return [], "must be a list or an object of letter → text"
    options = []
    for index, option in enumerate(raw):
        if isinstance(option, dict) and "key" in option and "text" in option:
            options.append({k: v for k, v in option.items() if k in ("key", "text", "fraction", "feedback")})
            options[-1]["key"], options[-1]["text"] = str(option["key"]), str(option["text"])
        elif isinstance(option, str):
            options.append({"key": chr(ord("A") + index), "text": option})
        else:
            return [], f"option {index + 1} must be a string or {{'key', 'text'}}"
    return options, None


FORMAT = Format(name="quizsite-json", label="quizsite JSON", extensions=(".json",), parse=parse, sniff=sniff)
