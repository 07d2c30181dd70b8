"""Files in a layout no importer knows, read through a mapping (quizbank/importers/mapping.py).

Each record's fields are found by the mapping, turned into the one-row-per-question table's cells
(stem, type, answer, option_a.., difficulty, ...) and read by the table's own rules
(quizbank/importers/table_rows.py), so a mapped file accepts what a spreadsheet accepts: 单选题 or
single_choice, 易/中/难 or 1–5, `A,C` for several letters, `北京|上海` for blanks. A row error names the
mapping's field and where its value was read from. `source_row` is the line (jsonl), the item number
in the records list (json) or the row a spreadsheet shows (csv, xlsx; the header is the first row
that is not empty).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
import unicodedata
import zipfile
from collections.abc import Iterator
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException

from quizbank.importers.base import ImportSource, ParseStream, RowError, text_encoding
from quizbank.importers.csv_table import csv_delimiter
from quizbank.importers.mapping import FieldSpec, Mapping, Missing, resolve
from quizbank.importers.registry import Format
from quizbank.importers.table_cells import cell_text
from quizbank.importers.table_rows import row_to_record
from quizbank.importers.xlsx_table import SheetLimitError, archive_problem, sheet_rows

# fields read as text into the table column of the same name
TEXT_FIELDS = ("stem", "type", "explanation", "subject", "difficulty", "score", "partial_score", "source")
NAME_FIELDS = ("tags", "knowledge_points")
# a letter before an option's text: (A) （A） A. A． A) A） A、 A: (and "A " where A is the expected letter)
_LETTER_PREFIX = re.compile(r"^\s*(?:[(（]\s*([A-Za-z])\s*[)）]|([A-Za-z])\s*[.．)）、:：])\s*(.*)$", re.DOTALL)
_LETTER_SPACE = re.compile(r"^\s*([A-Za-z])\s+(.*)$", re.DOTALL)
_NO_SUBJECT = "quizsite-mapping/no-subject"
_BRACKETS = re.compile(r"[()（）\[\]【】]")  # "(B)" as an answer is the letter B


def mapping_format(mapping: Mapping) -> Format:
    """The mapping as one more importer, for `iter_file`."""
    return Format(
        name="mapping",
        label=f"{mapping.format} read through {mapping.file_name}",
        extensions=(),
        parse=lambda source: parse(source, mapping),
    )


def parse(source: ImportSource, mapping: Mapping) -> ParseStream:
    reader = {"jsonl": _jsonl_items, "json": _json_items, "csv": _csv_items, "xlsx": _xlsx_items}[mapping.format]
    for row, item in reader(source, mapping):
        if isinstance(item, RowError):
            yield item
        else:
            yield record_from_item(item, mapping, file_name=source.file_name, row=row, subject=source.subject)


# --- records out of files -------------------------------------------------------------------------

Items = Iterator[tuple[int | None, object]]


def _jsonl_items(source: ImportSource, mapping: Mapping) -> Items:
    name = source.file_name
    line_number = 0
    encoding = text_encoding(source.path, file_name=name)
    try:
        with source.path.open(encoding=encoding, newline=None) as lines:
            for line_number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                try:
                    yield line_number, json.loads(line)
                except json.JSONDecodeError as exc:
                    message = f"invalid JSON: {exc.msg} (column {exc.colno}); a jsonl file has one JSON object a line"
                    if line_number == 1:
                        message += " (a file that is one JSON document is format json)"
                    yield line_number, RowError(name, line_number, "(json)", message)
    except UnicodeDecodeError:
        yield None, RowError(name, line_number + 1, "(file)", f"is not {encoding} text from line {line_number + 1} on")


def _json_items(source: ImportSource, mapping: Mapping) -> Items:
    data, error = source.json()
    if error:
        if "Extra data" in error.message:
            error = dataclasses.replace(
                error, message=f"{error.message}; a file of one JSON value a line is format jsonl"
            )
        yield None, error
        return
    records = data
    if mapping.records:
        try:
            records = resolve(data, mapping.steps[mapping.records], root="the file")
        except Missing as exc:
            yield None, RowError(source.file_name, None, "records", f"{mapping.records!r} leads nowhere: {exc}")
            return
    if not isinstance(records, list):
        where = f"{mapping.records!r}" if mapping.records else "the file (no records path in the mapping)"
        message = f'{where} is not a list of records; name the list with "records" in the mapping, e.g. "data.items"'
        yield None, RowError(source.file_name, None, "records", message)
        return
    yield from enumerate(records, start=1)


def _csv_items(source: ImportSource, mapping: Mapping) -> Items:
    text = source.text().lstrip("\ufeff")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=csv_delimiter(text.split("\n", 1)[0]))
    yield from _table_items(enumerate(reader, start=1), source, mapping)


def _xlsx_items(source: ImportSource, mapping: Mapping) -> Items:
    name = source.file_name
    problem = archive_problem(source.path)
    if problem:
        yield None, RowError(name, None, "(file)", problem)
        return
    try:
        yield from _table_items(sheet_rows(source.path), source, mapping)
    except SheetLimitError as exc:
        yield exc.row, RowError(name, exc.row, exc.cell or "(row)", str(exc))
    except (zipfile.BadZipFile, KeyError, ValueError, ParseError, DefusedXmlException) as exc:
        yield None, RowError(name, None, "(file)", f"cannot be read as an .xlsx workbook ({exc})")


def _table_items(rows, source: ImportSource, mapping: Mapping) -> Items:
    """Rows as {column: cell}: the header is the first row that is not empty; every column the
    mapping names must be in it (else one error, and no row is read)."""
    headers: list[str] | None = None
    for row_number, values in rows:
        texts = [cell_text(value) for value in values]
        if not any(texts):
            continue
        if headers is None:
            headers = texts
            absent = _absent_columns(mapping, headers)
            if absent:
                yield row_number, RowError(source.file_name, row_number, *absent)
                return
            continue
        item: dict[str, str] = {}
        for header, text in zip(headers, texts, strict=False):
            if header and not item.get(header):
                item[header] = text
        yield row_number, item
    if headers is None:
        yield None, RowError(source.file_name, None, "(file)", "is empty: no header row naming the columns")


def _absent_columns(mapping: Mapping, headers: list[str]) -> tuple[str, str] | None:
    for spec in mapping.fields.values():
        for column in spec.paths:
            if column not in headers:
                shown = ", ".join(header for header in headers if header)
                return spec.name, f"the column {column!r} (fields.{spec.name}) is not in the header; it has: {shown}"
    return None


# --- one record -----------------------------------------------------------------------------------


class _FieldProblem(Exception):
    def __init__(self, field_name: str, message: str):
        self.field_name = field_name
        self.message = message


def record_from_item(item, mapping: Mapping, *, file_name: str, row: int | None, subject: str):
    """One record of the file as a validated QuestionRecord, or the first problem found as a RowError
    naming the mapping's field."""
    values, missing = {}, {}
    for name, spec in mapping.fields.items():
        try:
            values[name] = _value(item, spec, mapping)
        except Missing as exc:
            values[name], missing[name] = None, str(exc)
    try:
        cells = _cells(values, mapping)
    except _FieldProblem as problem:
        return RowError(
            file_name, row, problem.field_name, _where(problem.message, problem.field_name, mapping, missing)
        )
    # a record that names no subject is left without one here, for iter_file to give it the import's
    # default like any other format's (the table's rules would refuse it outright)
    result = row_to_record(cells, file_name=file_name, row_number=row or 0, subject=subject or _NO_SUBJECT)
    if isinstance(result, RowError):
        name = "options" if result.field.startswith("option_") else result.field
        message = result.message
        if name == "options" and not any(column.startswith("option_") for column in cells):
            message = "a choice question needs its options, and this record has none"
        return RowError(file_name, row, name, _where(message, name, mapping, missing))
    result.source_row = row
    if result.subject == _NO_SUBJECT:
        result.subject = ""
    if values.get("licence") is not None:
        result.source_licence = _text(values["licence"], "licence")
    return result


def _where(message: str, name: str, mapping: Mapping, missing: dict[str, str]) -> str:
    """A row error's message with where the field was looked for."""
    spec = mapping.fields.get(name)
    if spec is None:
        return message
    if name in missing:
        return f"{message} — {spec.source()}: {missing[name]}"
    known = f"; the mapping's map knows {', '.join(map(repr, spec.value_map))}" if spec.value_map else ""
    return f"{message} (read from {spec.source()}{known})"


def _value(item, spec: FieldSpec, mapping: Mapping):
    if spec.is_const:
        return spec.const
    if len(spec.paths) == 1:
        value = mapping.lookup(item, spec.paths[0])
    else:  # options in several columns or keys: the ones present, in order
        value = []
        for path in spec.paths:
            try:
                found = mapping.lookup(item, path)
            except Missing:
                continue
            if found is not None and cell_text(found) != "":
                value.append(found)
    if spec.value_map is not None:
        value = _mapped(value, spec.value_map)
    return value


def _mapped(value, table: dict):
    if isinstance(value, list):
        return [_mapped(item, table) for item in value]
    if isinstance(value, str | int | float | bool) and cell_text(value) in table:
        return table[cell_text(value)]
    return value


def _cells(values: dict, mapping: Mapping) -> dict[str, str]:
    """The table row (column -> cell text) the mapped values make."""
    cells = {name: _text(values[name], name) for name in TEXT_FIELDS if name in values}
    for name in NAME_FIELDS:
        if name in values:
            cells[name] = "|".join(_listed(values[name], mapping.fields[name], name))
    options: list[tuple[str, str]] = []
    if "options" in values:
        options = _options(values["options"], mapping.fields["options"], mapping)
        for letter, text in options:
            cells[f"option_{letter.lower()}"] = text
    if "answer" in values:
        cells["answer"] = _answer(values["answer"], mapping.fields["answer"], options)
    return cells


def _text(value, name: str) -> str:
    """A scalar (or a list of them, one a line) as cell text."""
    if isinstance(value, list):
        return "\n".join(_text(item, name) for item in value if item is not None)
    if isinstance(value, dict):
        keys = ", ".join(list(value)[:10])
        raise _FieldProblem(name, f"holds an object ({keys}), not text; name the key inside it in the path")
    return cell_text(value)


def _listed(value, spec: FieldSpec, name: str) -> list:
    """A value that should be a list: a list, text split by `split`, one scalar, or nothing."""
    if value is None:
        return []
    if isinstance(value, list):
        return value
    if isinstance(value, str) and spec.split:
        return [part for part in value.split(spec.split) if part.strip()]
    if isinstance(value, dict):
        raise _FieldProblem(name, f"holds an object ({', '.join(list(value)[:10])}), not a list")
    return [value]


def _options(value, spec: FieldSpec, mapping: Mapping) -> list[tuple[str, str]]:
    """(letter, text) of each option, in order."""
    if isinstance(value, str) and not spec.split:
        raise _FieldProblem(
            "options", 'holds text, not a list; add "split" (e.g. "|") or give each option\'s path in a list'
        )
    options: list[tuple[str, str]] = []
    for index, item in enumerate(_listed(value, spec, "options")):
        expected = chr(ord("A") + index) if index < 26 else "?"
        if spec.text:
            letter, text = _option_object(item, spec, mapping, index, expected)
        else:
            if isinstance(item, dict | list):
                raise _FieldProblem(
                    "options",
                    f"option {index + 1} is {'an object' if isinstance(item, dict) else 'a list'}; say where its "
                    'text is with "text" (and its letter with "key")',
                )
            letter, text = expected, cell_text(item)
        if spec.strip_letter:
            letter, text = _strip_letter(text, letter, index)
        if letter == "?" or not ("A" <= letter <= "Z" and len(letter) == 1):
            raise _FieldProblem("options", f"option {index + 1}: {letter!r} is not an option letter A–Z")
        if any(letter == seen for seen, _ in options):
            raise _FieldProblem("options", f"option {index + 1}: the letter {letter} is used twice")
        options.append((letter, text))
    options.sort()
    letters = "".join(letter for letter, _ in options)
    if letters != "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[: len(letters)]:
        raise _FieldProblem(
            "options", f"the option letters are {', '.join(letters)}; they must run A, B, C, … with no gap"
        )
    return options


def _option_object(item, spec: FieldSpec, mapping: Mapping, index: int, expected: str) -> tuple[str, str]:
    try:
        text = resolve(item, mapping.steps[spec.text], root="the option")
        letter = cell_text(resolve(item, mapping.steps[spec.key], root="the option")) if spec.key else expected
    except Missing as exc:
        raise _FieldProblem("options", f"option {index + 1}: {exc}") from None
    return unicodedata.normalize("NFKC", letter).strip().upper(), _text(text, "options")


def _strip_letter(text: str, letter: str, index: int) -> tuple[str, str]:
    """The option's own letter and its text without it: `(A) 12` -> (A, 12); "A 12" only where A is
    the expected letter (else "I think" would lose its I)."""
    match = _LETTER_PREFIX.match(text)
    if match:
        return (match.group(1) or match.group(2)).upper(), match.group(3).strip()
    match = _LETTER_SPACE.match(text)
    if match and match.group(1).upper() == letter:
        return letter, match.group(2).strip()
    return letter, text


def _answer(value, spec: FieldSpec, options: list[tuple[str, str]]) -> str:
    if value is None:
        return ""
    if not spec.answer_as:
        return "|".join(_text(item, "answer") for item in _listed(value, spec, "answer"))
    parts = _listed(value, spec, "answer")
    if spec.answer_as == "letters":
        return ",".join(_BRACKETS.sub("", _text(part, "answer")).upper() for part in parts)
    if spec.answer_as == "index":
        return "".join(_index_letter(part, len(options)) for part in parts)
    texts = {text: letter for letter, text in options}
    letters = []
    for part in parts:
        text = _text(part, "answer")
        stripped = _strip_letter(text, "", 0)[1] if spec.strip_letter else text
        letter = texts.get(text) or texts.get(stripped)
        if letter is None:
            raise _FieldProblem("answer", f"{text!r} is not the text of any option")
        letters.append(letter)
    return "".join(letters)


def _index_letter(part, count: int) -> str:
    text = _text(part, "answer")
    if isinstance(part, bool) or not text.lstrip("-").isdigit():
        raise _FieldProblem("answer", f"{text!r} is not an option index (0 for the first option)")
    index = int(text)
    if not 0 <= index < max(count, 1) or index >= 26:
        raise _FieldProblem("answer", f"index {index} names no option (there are {count}; the first is 0)")
    return chr(ord("A") + index)
