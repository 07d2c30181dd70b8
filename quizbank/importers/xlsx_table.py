"""Excel workbooks (.xlsx) in the one-row-per-question table (layout: quizbank/spreadsheet.py).

The first sheet is read, streaming (openpyxl read-only), so memory stays flat for 100,000 rows.
Formulas are never evaluated: a cell holding `=HYPERLINK(...)` is read as that text. Before
openpyxl sees the file it must be a zip archive whose members do not unpack to more than
MAX_UNPACKED_BYTES, and no large member may be compressed more than MAX_RATIO times: a
"decompression bomb" is refused with an error instead of filling memory.
"""

from __future__ import annotations

import zipfile

from quizbank.importers.base import ImportSource, ParseStream, RowError
from quizbank.importers.registry import Format
from quizbank.spreadsheet import records_from_rows

MAX_UNPACKED_BYTES = 200 * 1024 * 1024
MAX_RATIO = 100
LARGE_MEMBER_BYTES = 10 * 1024 * 1024
MAX_MEMBERS = 10_000
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # the old binary .xls


def archive_problem(path) -> str | None:
    """Why the file must not be opened as a workbook, or None when it looks safe."""
    with open(path, "rb") as handle:
        magic = handle.read(8)
    if magic == OLE2_MAGIC:
        return "is an old Excel 97–2003 (.xls) file; open it in Excel and save it as .xlsx"
    if not zipfile.is_zipfile(path):
        return "is not an .xlsx workbook (an .xlsx file is a zip archive); save it from Excel as .xlsx"
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        return f"is a damaged .xlsx file ({exc})"
    if len(members) > MAX_MEMBERS:
        return f"has {len(members)} parts inside; a workbook has far fewer, so it is refused"
    unpacked = sum(member.file_size for member in members)
    if unpacked > MAX_UNPACKED_BYTES:
        return (
            f"would unpack to {unpacked // (1024 * 1024)} MB, more than the {MAX_UNPACKED_BYTES // (1024 * 1024)} MB "
            "allowed; split the questions into several files"
        )
    for member in members:
        if member.file_size > LARGE_MEMBER_BYTES and member.file_size > MAX_RATIO * max(member.compress_size, 1):
            return (
                f"contains {member.filename!r}, compressed {member.file_size // max(member.compress_size, 1)} "
                "times; it looks like a decompression bomb and is refused"
            )
    return None


def parse(source: ImportSource) -> ParseStream:
    name = source.file_name
    problem = archive_problem(source.path)
    if problem:
        yield RowError(name, None, "(file)", problem)
        return

    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        # data_only=False: a formula cell gives its formula text, never a computed value
        workbook = load_workbook(source.path, read_only=True, data_only=False)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        yield RowError(name, None, "(file)", f"cannot be read as an .xlsx workbook ({exc})")
        return
    try:
        if not workbook.worksheets:
            yield RowError(name, None, "(file)", "has no worksheet")
            return
        sheet = workbook.worksheets[0]
        sheet.reset_dimensions()  # a wrong stored size must not hide rows
        rows = enumerate(sheet.iter_rows(values_only=True), start=1)
        yield from records_from_rows(rows, file_name=name, subject=source.subject)
    finally:
        workbook.close()


FORMAT = Format(name="xlsx", label="Excel (题目,类型,答案,… table)", extensions=(".xlsx",), parse=parse, binary=True)
