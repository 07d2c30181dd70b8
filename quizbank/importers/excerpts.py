"""A short quote of the row an error is about, shown beside its file, row and field."""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path

from quizbank.importers.base import BankImportError, text_encoding

EXCERPT_CHARS = 80


def excerpt(text: object) -> str:
    """`text` on one line, cut to EXCERPT_CHARS with an ellipsis."""
    line = " ".join(str(text).split())
    return line if len(line) <= EXCERPT_CHARS else line[: EXCERPT_CHARS - 1] + "…"


class LineQuoter:
    """Quotes lines of a text file by number. Errors come in file order, so the file is read forward
    once; a number behind the last one quoted reads it again from the start."""

    def __init__(self, path: Path, *, file_name: str):
        self.path, self.file_name = path, file_name
        self._lines: Generator[str, None, None] | None = None
        self._number = 0

    def quote(self, number: int) -> str:
        if self._lines is None or number <= self._number:
            self.close()
            self._lines, self._number = self._read(), 0
        for line in self._lines:
            self._number += 1
            if self._number == number:
                return excerpt(line.lstrip("\ufeff"))
        return ""

    def _read(self) -> Generator[str, None, None]:
        try:
            encoding = text_encoding(self.path, file_name=self.file_name)
        except BankImportError:
            return
        with self.path.open(encoding=encoding, errors="replace", newline=None) as lines:
            yield from lines

    def close(self) -> None:
        if self._lines is not None:
            self._lines.close()
            self._lines = None
