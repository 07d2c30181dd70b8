"""The project's own bank format (schema: quizbank/schemas/bank.schema.json).

{"format": "quizsite-bank", "version": 1, "subject": "数学", "dataset": "...", "licence": "...",
 "questions": [{"type": "single_choice", "subject": "数学/四则运算", "stem": "...",
                "options": [{"key": "A", "text": "..."}, ...] or ["...", ...] or {"A": "...", ...},
                "answer": "C", "explanation": "...", "score": 2, "difficulty": 1, ...}]}
Every QuestionRecord field may be given per question (answer_data, tags, knowledge_points...).
"""

from __future__ import annotations

import codecs
import io
from decimal import Decimal, InvalidOperation

import ijson

from quizbank.importers.base import ImportSource, ParseStream, QuestionRecord, RowError, text_encoding
from quizbank.importers.registry import Format

FORMAT_NAME = "quizsite-bank"


def sniff(head: str, file_name: str) -> bool:
    return head.lstrip().startswith("{") and f'"{FORMAT_NAME}"' in head[:2000]


def parse(source: ImportSource) -> ParseStream:
    """Streamed with ijson: the header's scalar fields first, then the questions one by one."""
    name = source.file_name
    try:
        header = _header(source)
    except ijson.JSONError:
        yield _json_error(source)
        return
    except UnicodeDecodeError as exc:
        yield RowError(name, None, "(file)", f"is not UTF-8 text (bad byte at {exc.start})")
        return
    if header.get("format") != FORMAT_NAME:
        yield RowError(name, None, "format", f'expected "format": "{FORMAT_NAME}"')
        return
    if header.get("version") != 1:
        yield RowError(name, None, "version", f"unsupported version {header.get('version')!r}; expected 1")
        return
    if not header.get("has_questions"):
        yield RowError(name, None, "questions", "must be a list")
        return
    with _open(source) as handle:
        row = 0
        try:
            for row, item in enumerate(ijson.items(handle, "questions.item", use_float=True), start=1):
                yield record_from_item(item, data=header, file_name=name, row=row, default_subject=source.subject)
        except ijson.JSONError as exc:
            yield RowError(name, row + 1, "(json)", f"invalid JSON after item {row}: {exc}")


def _json_error(source: ImportSource) -> RowError:
    """Where the JSON breaks, as line and column (the streaming parser does not say)."""
    return source.json()[1] or RowError(source.file_name, None, "(json)", "invalid JSON")


def _open(source: ImportSource):
    """The file as UTF-8 bytes (a BOM skipped); other encodings are decoded first."""
    encoding = text_encoding(source.path, file_name=source.file_name)
    if encoding in ("utf-8", "utf-8-sig"):
        handle = source.path.open("rb")
        if encoding == "utf-8-sig":
            handle.read(len(codecs.BOM_UTF8))
        return handle
    return io.BytesIO(source.text().encode("utf-8"))


def _header(source: ImportSource) -> dict:
    """The top-level scalar fields, read without building the questions list."""
    header: dict = {}
    with _open(source) as handle:
        for prefix, event, value in ijson.parse(handle, use_float=True):
            if prefix in ("format", "version", "subject", "dataset", "licence") and event in (
                "string",
                "number",
                "null",
                "boolean",
            ):
                header[prefix] = value
            elif prefix == "questions" and event == "start_array":
                header["has_questions"] = True
            elif prefix == "questions" and event != "end_array" and event != "start_array":
                header["has_questions"] = False
    return header


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
