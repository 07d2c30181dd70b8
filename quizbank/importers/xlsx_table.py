"""Excel workbooks (.xlsx) in the one-row-per-question table (layout: quizbank/importers/table_rows.py).

The first sheet is read, streaming (expat over the sheet XML), so memory stays flat for 100,000 rows.
Formulas are never evaluated: a cell holding `=HYPERLINK(...)` is read as that text. Before
the sheet is read the file must be a zip archive whose members do not unpack to more than
MAX_UNPACKED_BYTES, and no large member may be compressed more than MAX_RATIO times: a
"decompression bomb" is refused with an error instead of filling memory.

Cell references are held to Excel's own grid (MAX_ROWS rows, MAX_COLUMNS = column XFD) and a
question table to MAX_TABLE_COLUMNS columns: a reference beyond them is refused with the file, row
and cell named, so a 1 KB file naming cell `ZZZZZZZ2` or row 99999999999 cannot make the reader
build billions of empty cells. Rows the file leaves out are never materialised (each row carries
its own number), and empty cells never widen a row, so a legal but sparse sheet (one cell at XFD1,
one row at 1,000,000) reads in time and memory proportional to the file, not to the grid.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring, iterparse

from quizbank.importers.base import ImportSource, ParseStream, RowError
from quizbank.importers.registry import Format
from quizbank.importers.table_rows import records_from_rows

MAX_UNPACKED_BYTES = 200 * 1024 * 1024
MAX_RATIO = 100
LARGE_MEMBER_BYTES = 10 * 1024 * 1024
MAX_MEMBERS = 10_000
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # the old binary .xls
MAX_ROWS = 1_048_576  # Excel's grid: rows 1..1,048,576
MAX_COLUMNS = 16_384  # and columns A..XFD
# A question table has a few dozen columns (题目, 类型, 答案, 解析, 选项A–H, 分值, ...): a value further
# right is refused rather than widening every row it is in.
MAX_TABLE_COLUMNS = 256


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
    try:
        yield from records_from_rows(sheet_rows(source.path), file_name=name, subject=source.subject)
    except SheetLimitError as exc:
        yield RowError(name, exc.row, exc.cell or "(row)", str(exc))
    except (zipfile.BadZipFile, KeyError, ValueError, ParseError, DefusedXmlException) as exc:
        yield RowError(name, None, "(file)", f"cannot be read as an .xlsx workbook ({exc})")


# --- a streaming reader for the first worksheet -------------------------------------------------
# openpyxl's read-only mode takes ~0.6 ms a row; reading the sheet XML with expat directly is
# several times faster and just as flat in memory. Formula cells give their formula text
# ("=HYPERLINK(...)"), never a computed value. python-calamine reads about 8 times faster still
# (`make bench ONLY=import_100k` prints both) but does not stream: it builds the whole sheet as one
# dense grid before the first row, so memory grows with the file, and a 1 KB file naming cell
# ZZZZZZZ2 aborts the process asking for 259 GB before any of the limits below can refuse it. It
# also gives a formula's cached value, not its text.

_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_REL_NS = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_PKG_REL_NS = "{http://schemas.openxmlformats.org/package/2006/relationships}"


class SheetLimitError(ValueError):
    """A row or cell reference outside the grid a question table may use."""

    def __init__(self, message: str, *, row: int | None, cell: str = ""):
        super().__init__(message)
        self.row = row
        self.cell = cell


def sheet_rows(path) -> Iterator[tuple[int, tuple]]:
    """The first sheet's rows as (row number, cells), the cells str / int / float / bool / None.

    Rows the file leaves out (a spreadsheet shows them empty) are skipped, not produced: a row's
    number comes from the file, so nothing is materialised for the gap before row 1,000,000."""
    with zipfile.ZipFile(path) as archive:
        strings = _shared_strings(archive)
        with archive.open(_first_sheet(archive)) as sheet:
            expected = 1
            for _, element in iterparse(sheet, events=("end",), forbid_entities=True):
                if element.tag != f"{_NS}row":
                    continue
                number = _row_number(element.get("r"), expected)
                yield number, _row_values(element, strings, number)
                expected = number + 1
                element.clear()


def _row_number(reference: str | None, expected: int) -> int:
    number = expected
    if reference:  # 7 digits hold every row number Excel has; more would be a very long int to parse
        number = int(reference) if reference.isdigit() and len(reference) <= 7 else 0
    if not 1 <= number <= MAX_ROWS:
        raise SheetLimitError(
            f"row {(reference or str(number))[:20]} is outside the worksheet: rows go from 1 to {MAX_ROWS:,}; "
            "the file is refused",
            row=number if 1 <= number <= MAX_ROWS + 1 else None,
        )
    return number


def _first_sheet(archive: zipfile.ZipFile) -> str:
    workbook = fromstring(archive.read("xl/workbook.xml"), forbid_entities=True)
    sheet = workbook.find(f"{_NS}sheets/{_NS}sheet")
    if sheet is None:
        raise ValueError("the workbook has no worksheet")
    relation_id = sheet.get(f"{_REL_NS}id")
    relations = fromstring(archive.read("xl/_rels/workbook.xml.rels"), forbid_entities=True)
    for relation in relations.iter(f"{_PKG_REL_NS}Relationship"):
        if relation.get("Id") == relation_id:
            target = relation.get("Target", "")
            return target.lstrip("/") if target.startswith("/") else f"xl/{target}"
    raise ValueError("the first worksheet is missing from the workbook")


def _shared_strings(archive: zipfile.ZipFile) -> list[str]:
    if "xl/sharedStrings.xml" not in archive.namelist():
        return []
    strings = []
    with archive.open("xl/sharedStrings.xml") as handle:
        for _, element in iterparse(handle, events=("end",), forbid_entities=True):
            if element.tag == f"{_NS}si":
                strings.append(_rich_text(element))
                element.clear()
    return strings


def _rich_text(element) -> str:
    """Text of an <si>/<is>: plain <t> or rich-text runs <r><t>, without phonetic hints (<rPh>)."""
    parts = []
    for child in element:
        if child.tag == f"{_NS}t":
            parts.append(child.text or "")
        elif child.tag == f"{_NS}r":
            parts.extend(t.text or "" for t in child.iter(f"{_NS}t"))
    return "".join(parts)


def _column(reference: str, row: int) -> int | None:
    """The 0-based column of a reference like "C7"; None when it names no column. A reference past
    column XFD is refused before its number is computed (8 letters would mean billions)."""
    letters = 0
    for char in reference:
        if not ("A" <= char <= "Z" or "a" <= char <= "z"):
            break
        letters += 1
    if not letters:
        return None
    index = 0
    if letters <= 3:
        for char in reference[:letters]:
            index = index * 26 + ord(char.upper()) - 64
    if letters > 3 or index > MAX_COLUMNS:
        raise SheetLimitError(
            f"cell {reference[:20]} is beyond column XFD ({MAX_COLUMNS:,}), the last column a worksheet can have; "
            "the file is refused",
            row=row,
            cell=reference[:20],
        )
    return index - 1


def _row_values(row, strings: list[str], number: int) -> tuple:
    values: list = []
    for position, cell in enumerate(row.iter(f"{_NS}c")):
        reference = cell.get("r")
        column = _column(reference, number) if reference else None
        if column is None:
            column = max(position, len(values))
        value = _cell_value(cell, strings)
        if value is None or value == "":
            continue  # an empty (perhaps only formatted) cell: it never widens the row
        if column >= MAX_TABLE_COLUMNS:
            raise SheetLimitError(
                f"cell {reference or f'#{column + 1}'} holds a value in column {column + 1:,}; a question table has at "
                f"most {MAX_TABLE_COLUMNS} columns. Delete what is in that column and import again",
                row=number,
                cell=reference or "",
            )
        while len(values) < column:
            values.append(None)
        if column < len(values):
            values[column] = value  # a cell named twice: the later one counts, as in Excel's reading
        else:
            values.append(value)
    return tuple(values)


def _cell_value(cell, strings: list[str]):
    kind = cell.get("t", "n")
    formula = cell.find(f"{_NS}f")
    if formula is not None and formula.text:
        return f"={formula.text}"
    if kind == "inlineStr":
        inline = cell.find(f"{_NS}is")
        return _rich_text(inline) if inline is not None else None
    value = cell.find(f"{_NS}v")
    if value is None or value.text is None:
        return None
    text = value.text
    if kind == "s":
        return strings[int(text)]
    if kind == "b":
        return text == "1"
    if kind in ("str", "e"):
        return text
    number = float(text)
    return int(number) if number.is_integer() and "." not in text and "E" not in text.upper() else number


FORMAT = Format(name="xlsx", label="Excel (题目,类型,答案,… table)", extensions=(".xlsx",), parse=parse, binary=True)
