"""Pick the importer for a file by its extension and content, and run it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from quizbank.importers.base import BankImportError, ImportSource, ParseStream, RowError, read_head
from quizbank.importers.excerpts import LineQuoter, excerpt
from quizbank.importers.registry import Format, format_by_name, formats
from quizbank.sanitize import clean_record

SNIFF_BYTES = 64 * 1024
UNSORTED_SUBJECT = "未分类"


def detect_format(path: Path, *, file_name: str | None = None) -> Format:
    """The format of a file: by content among the formats claiming its extension, else by content alone."""
    name = file_name or path.name
    lowered = name.lower()
    available = formats()
    binary = [fmt for fmt in available if fmt.binary and lowered.endswith(fmt.extensions)]
    if binary:
        return binary[0]
    head = read_head(path, SNIFF_BYTES) if path.stat().st_size else ""
    claiming = [fmt for fmt in available if lowered.endswith(fmt.extensions)]
    for fmt in claiming + [fmt for fmt in available if fmt not in claiming]:
        if not fmt.binary and fmt.sniff(head, name):
            return fmt
    if claiming:
        return claiming[0]
    known = sorted({ext for fmt in available for ext in fmt.extensions})
    raise BankImportError(
        [RowError(name, None, "(file)", f"unrecognised file type; known: {', '.join(known)}, or choose a format")]
    )


def recognised_format(path: Path, *, file_name: str | None = None) -> Format | None:
    """The text format whose sniffer claims the file by its content, or None where none does (a file
    that detect_format would only hand to an importer by its extension)."""
    name = file_name or path.name
    head = read_head(path, SNIFF_BYTES) if path.stat().st_size else ""
    return next((fmt for fmt in formats() if not fmt.binary and fmt.sniff(head, name)), None)


def iter_file(path: Path, *, fmt: str | Format = "", subject: str = "", file_name: str | None = None) -> ParseStream:
    """Records (cleaned and validated) and errors of one file, streamed in file order.

    `fmt` is a format's name, or a Format itself (a mapping's, quizbank/importers/mapped.py).
    A record that fails validation is replaced by its errors.
    """
    name = file_name or path.name
    if isinstance(fmt, Format):
        chosen = fmt
    elif fmt:
        chosen = format_by_name(fmt)
        if chosen is None:
            names = ", ".join(f.name for f in formats())
            raise BankImportError([RowError(name, None, "(format)", f"unknown format {fmt!r}; known: {names}")])
    else:
        chosen = detect_format(path, file_name=name)
    quoter = LineQuoter(path, file_name=name) if chosen.rows_are_lines else None
    try:
        items = chosen.parse(ImportSource(path=path, file_name=name, subject=subject))
        yield from _checked(items, name=name, subject=subject, quoter=quoter)
    finally:
        if quoter is not None:
            quoter.close()


def _checked(items: ParseStream, *, name: str, subject: str, quoter: LineQuoter | None) -> ParseStream:
    """Records cleaned and validated, errors quoting their row: the record's question text, or the
    file's line where rows are lines."""
    for item in items:
        if isinstance(item, RowError):
            if quoter is not None and item.row is not None and not item.excerpt:
                item = replace(item, excerpt=quoter.quote(item.row))
            yield item
            continue
        if not item.subject:
            item.subject = subject or default_subject(name)
            item.source_subject_missing = not subject
        clean_record(item)
        errors = item.validate()
        if errors:
            quote = excerpt(item.stem)
            yield from (error if error.excerpt else replace(error, excerpt=quote) for error in errors)
        else:
            yield item


def default_subject(file_name: str) -> str:
    """Where questions of a file without subjects go when the teacher names none: 未分类/<file name>."""
    stem = Path(file_name).stem.replace("/", " ").strip() or "导入"
    return f"{UNSORTED_SUBJECT}/{stem}"


def parse_file(path: Path, *, fmt: str = "", subject: str = "", file_name: str | None = None) -> list:
    """Every record of a file; raise BankImportError listing all bad rows if there is one."""
    records, errors = [], []
    for item in iter_file(path, fmt=fmt, subject=subject, file_name=file_name):
        (errors if isinstance(item, RowError) else records).append(item)
    if errors:
        raise BankImportError(errors)
    return records
