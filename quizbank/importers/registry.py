"""The formats the bank imports, and how a file's format is recognised.

Each importer module defines `FORMAT = Format(...)`: a name, the file extensions it claims,
a `sniff(head, file_name)` test on the first few KB of text, and `parse(source)` yielding
`QuestionRecord`s (or `RowError`s for rows it cannot read at all), streaming where it can.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from quizbank.importers.base import ImportSource, ParseStream


@dataclass(frozen=True)
class Format:
    name: str
    label: str
    extensions: tuple[str, ...]
    parse: Callable[[ImportSource], ParseStream]
    sniff: Callable[[str, str], bool] = lambda head, file_name: False
    binary: bool = False  # the sniffer gets no text (xlsx)
    rows_are_lines: bool = False  # an error's row is a line of the file, quoted beside the error


# Order matters for sniffing: the most specific formats first.
IMPORTER_MODULES = [
    "quizbank.importers.native_json",
    "quizbank.importers.alpaca_json",
    "quizbank.importers.gaokao_json",
    "quizbank.importers.jsonl_banks",
    "quizbank.importers.moodle_xml",
    "quizbank.importers.qti21",
    "quizbank.importers.xlsx_table",
    "quizbank.importers.csv_banks",
    "quizbank.importers.csv_table",
    "quizbank.importers.gift",
    "quizbank.importers.aiken",
    "quizbank.importers.missingword",
    "quizbank.importers.pasted_text",
]


def formats() -> list[Format]:
    """Every available format (a module not written yet is simply not offered)."""
    found = []
    for module_name in IMPORTER_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        found.append(module.FORMAT)
    return found


def format_by_name(name: str) -> Format | None:
    return next((fmt for fmt in formats() if fmt.name == name), None)
