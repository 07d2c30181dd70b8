"""Pick the importer for a file by its extension and content."""

from __future__ import annotations

import json
from pathlib import Path

from quizbank.importers import alpaca_json, native_json
from quizbank.importers.base import BankImportError, QuestionRecord, RowError


def parse_file(path: Path, *, subject: str = "") -> list[QuestionRecord]:
    """Read and validate every record of a file; raise BankImportError listing all bad rows."""
    name = path.name
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise BankImportError([RowError(name, None, "(file)", f"cannot be read: {exc.strerror}")]) from exc
    if path.suffix.lower() != ".json":
        raise BankImportError(
            [RowError(name, None, "(file)", f"unsupported file type {path.suffix!r}; expected .json")]
        )
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise BankImportError([RowError(name, None, "(file)", f"is not UTF-8 text (byte {exc.start})")]) from exc
    except json.JSONDecodeError as exc:
        raise BankImportError(
            [RowError(name, exc.lineno, "(json)", f"invalid JSON: {exc.msg} (line {exc.lineno})")]
        ) from exc

    if native_json.matches(data):
        records, errors = native_json.parse(data, file_name=name)
    elif alpaca_json.matches(data):
        records, errors = alpaca_json.parse(data, file_name=name, subject=subject)
    else:
        raise BankImportError(
            [
                RowError(
                    name, None, "(file)", "not a recognised bank: expected the quizsite-bank format or Alpaca records"
                )
            ]
        )
    if subject:
        for record in records:
            record.subject = record.subject or subject
    for record in records:
        errors += record.validate()
    if errors:
        raise BankImportError(errors)
    return records
