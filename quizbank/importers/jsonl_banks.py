"""JSON Lines question banks, one question per line, read as a stream: AQuA-RAT and GSM8K.

- AQuA-RAT (`dev.json`: JSON Lines despite the extension): {"question", "options": ["A)32400", ...],
  "rationale", "correct": "A"} → single_choice; "A)32400" is option A "32400", the rationale (crowd
  written, sometimes wrong) the explanation. Subject "AQuA-RAT/algebra", licence Apache-2.0.
- GSM8K (`test.jsonl`): {"question", "answer"}, the answer a worked solution ending "#### 72" → numerical
  with the exact value 72 (thousands separators dropped: "2,125" → 2125, tolerance 0); the solution
  without its calculator annotations ("<<9*2=18>>") is the explanation. Subject "GSM8K/grade_school_math",
  licence MIT.

Each line is recognised by its keys, so a file may mix both; a line that is not a JSON object of either
shape is an error with its line number. `source_row` is the line number.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation

from quizbank.importers.base import ImportSource, ParseStream, QuestionRecord, RowError, text_encoding
from quizbank.importers.registry import Format
from quizbank.models import QuestionType

AQUA = {"dataset": "AQuA-RAT", "licence": "Apache-2.0", "subject": "AQuA-RAT/algebra"}
GSM8K = {"dataset": "GSM8K", "licence": "MIT", "subject": "GSM8K/grade_school_math"}

_AQUA_KEYS = {"question", "options", "correct"}
_GSM8K_KEYS = {"question", "answer"}
_AQUA_OPTION = re.compile(r"^\s*([A-Za-z])\s*\)\s*(.*)$", re.DOTALL)
_GSM8K_FINAL = re.compile(r"^\s*####\s*(.*?)\s*$", re.MULTILINE)
_GSM8K_ANNOTATION = re.compile(r"<<[^<>]*>>")


def sniff(head: str, file_name: str) -> bool:
    first = next((line for line in head.split("\n") if line.strip()), "")
    try:
        item = json.loads(first)
    except ValueError:
        return False
    if not isinstance(item, dict):
        return False
    if _AQUA_KEYS <= item.keys():
        return isinstance(item["options"], list)
    return _GSM8K_KEYS <= item.keys() and isinstance(item["answer"], str) and bool(_GSM8K_FINAL.search(item["answer"]))


def parse(source: ImportSource) -> ParseStream:
    name = source.file_name
    line_number = 0
    try:
        encoding = text_encoding(source.path, file_name=name)
        with source.path.open(encoding=encoding, newline=None) as lines:
            for line_number, line in enumerate(lines, start=1):
                if line.strip():
                    yield record_from_line(line, file_name=name, row=line_number)
    except UnicodeDecodeError:
        yield RowError(name, line_number + 1, "(file)", f"is not {encoding} text from line {line_number + 1} on")


def record_from_line(line: str, *, file_name: str, row: int) -> QuestionRecord | RowError:
    try:
        item = json.loads(line)
    except json.JSONDecodeError as exc:
        return RowError(file_name, row, "(json)", f"invalid JSON: {exc.msg} (column {exc.colno})")
    if not isinstance(item, dict):
        return RowError(file_name, row, "(json)", "each line must be a JSON object")
    if not isinstance(item.get("question"), str):
        return RowError(file_name, row, "question", "is missing or not a string")
    if "options" in item:
        return _aqua(item, file_name=file_name, row=row)
    if "answer" in item:
        return _gsm8k(item, file_name=file_name, row=row)
    return RowError(
        file_name,
        row,
        "(line)",
        'neither an AQuA-RAT record {"question", "options", "correct"} nor a GSM8K record {"question", "answer"}',
    )


def _aqua(item: dict, *, file_name: str, row: int) -> QuestionRecord | RowError:
    raw_options = item["options"]
    if not isinstance(raw_options, list):
        return RowError(file_name, row, "options", 'must be a list like ["A)32400", "B)6000"]')
    options = []
    for raw in raw_options:
        match = _AQUA_OPTION.match(str(raw))
        if match is None:
            return RowError(file_name, row, "options", f'{raw!r} does not start with its letter, like "A)32400"')
        options.append({"key": match.group(1).upper(), "text": match.group(2).strip()})
    rationale = item.get("rationale")
    return QuestionRecord(
        subject=AQUA["subject"],
        qtype=QuestionType.SINGLE_CHOICE,
        stem=item["question"],
        options=options,
        answer=str(item.get("correct", "")).strip().upper(),
        explanation=rationale.strip() if isinstance(rationale, str) else "",
        source_file=file_name,
        source_row=row,
        source_dataset=AQUA["dataset"],
        source_licence=AQUA["licence"],
    )


def _gsm8k(item: dict, *, file_name: str, row: int) -> QuestionRecord | RowError:
    solution = item["answer"]
    if not isinstance(solution, str):
        return RowError(file_name, row, "answer", "must be a string")
    finals = list(_GSM8K_FINAL.finditer(solution))
    if not finals:
        return RowError(file_name, row, "answer", "has no final line '#### <number>'")
    final = finals[-1]
    value = _number(final.group(1))
    if value is None:
        return RowError(file_name, row, "answer", f"the final line '#### {final.group(1)}' is not a number")
    worked = _GSM8K_ANNOTATION.sub("", solution[: final.start()]).strip()
    return QuestionRecord(
        subject=GSM8K["subject"],
        qtype=QuestionType.NUMERICAL,
        stem=item["question"],
        answer=str(value),
        answer_data={"answers": [{"value": value, "tolerance": 0, "fraction": 1.0, "feedback": ""}]},
        explanation=worked,
        source_file=file_name,
        source_row=row,
        source_dataset=GSM8K["dataset"],
        source_licence=GSM8K["licence"],
    )


def _number(text: str) -> int | float | None:
    """The number a final line gives ("2,125" → 2125, "$18" → 18, "0.5" → 0.5), else None."""
    cleaned = text.replace(",", "").replace("$", "").strip()
    try:
        number = Decimal(cleaned)
    except InvalidOperation:
        return None
    if not number.is_finite():
        return None
    return int(number) if number == number.to_integral_value() else float(number)


FORMAT = Format(
    name="jsonl-bank",
    label="JSON Lines (AQuA-RAT, GSM8K)",
    extensions=(".jsonl", ".json"),
    parse=parse,
    sniff=sniff,
    rows_are_lines=True,
)
