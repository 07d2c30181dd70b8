"""Excel workbooks (.xlsx) in the one-row-per-question table (layout: quizbank/spreadsheet.py).

The first sheet is read, streaming (expat over the sheet XML), so memory stays flat for 100,000 rows.
Formulas are never evaluated: a cell holding `=HYPERLINK(...)` is read as that text. Before
openpyxl sees the file it must be a zip archive whose members do not unpack to more than
MAX_UNPACKED_BYTES, and no large member may be compressed more than MAX_RATIO times: a
"decompression bomb" is refused with an error instead of filling memory.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring, iterparse

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
    try:
        rows = enumerate(sheet_rows(source.path), start=1)
        yield from records_from_rows(rows, file_name=name, subject=source.subject)
    except (zipfile.BadZipFile, KeyError, ValueError, ParseError, DefusedXmlException) as exc:
        yield RowError(name, None, "(file)", f"cannot be read as an .xlsx workbook ({exc})")


# --- a streaming reader for the first worksheet -------------------------------------------------
# openpyxl's read-only mode takes ~0.6 ms a row; reading the sheet XML with expat directly is
# several times faster and just as flat in memory. Formula cells give their formula text
# ("=HYPERLINK(...)"), never a computed value.

_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_REL_NS = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_PKG_REL_NS = "{http://schemas.openxmlformats.org/package/2006/relationships}"


def sheet_rows(path) -> Iterator[tuple]:
    """The first sheet's rows as tuples of str / int / float / bool / None, empty rows included."""
    with zipfile.ZipFile(path) as archive:
        strings = _shared_strings(archive)
        with archive.open(_first_sheet(archive)) as sheet:
            expected = 1
            for _, element in iterparse(sheet, events=("end",), forbid_entities=True):
                if element.tag != f"{_NS}row":
                    continue
                number = int(element.get("r") or expected)
                while expected < number:  # rows a spreadsheet shows but the file leaves out
                    yield ()
                    expected += 1
                yield _row_values(element, strings)
                expected += 1
                element.clear()


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


def _column(reference: str) -> int:
    index = 0
    for char in reference:
        if not char.isalpha():
            break
        index = index * 26 + ord(char.upper()) - 64
    return index - 1


def _row_values(row, strings: list[str]) -> tuple:
    values: list = []
    for position, cell in enumerate(row.iter(f"{_NS}c")):
        column = _column(cell.get("r", "")) if cell.get("r") else position
        while len(values) < column:
            values.append(None)
        values.append(_cell_value(cell, strings))
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
