"""CSV in the one-row-per-question table of Chinese exam systems (layout: quizbank/importers/table_rows.py).

Text in UTF-8 (with or without BOM), UTF-16 (Excel's "Unicode text", tab-separated) or GBK;
commas, tabs or semicolons between cells. `source_row` is the row number a spreadsheet shows
(the header is row 1), whatever line breaks the cells hold.
"""

from __future__ import annotations

import csv
import io

from quizbank.importers.base import ImportSource, ParseStream
from quizbank.importers.registry import Format
from quizbank.importers.table_rows import header_looks_like_ours, records_from_rows

DELIMITERS = (",", "\t", ";")


def csv_delimiter(first_line: str) -> str:
    counts = {delimiter: first_line.count(delimiter) for delimiter in DELIMITERS}
    best = max(counts, key=counts.__getitem__)
    return best if counts[best] else ","


def sniff(head: str, file_name: str) -> bool:
    first_line = head.lstrip("\ufeff").split("\n", 1)[0]
    try:
        cells = next(csv.reader([first_line], delimiter=csv_delimiter(first_line)))
    except (csv.Error, StopIteration):
        return False
    return header_looks_like_ours(cells)


def parse(source: ImportSource) -> ParseStream:
    text = source.text().lstrip("\ufeff")
    delimiter = csv_delimiter(text.split("\n", 1)[0])
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    yield from records_from_rows(enumerate(reader, start=1), file_name=source.file_name, subject=source.subject)


FORMAT = Format(name="csv", label="CSV (题目,类型,答案,… table)", extensions=(".csv",), parse=parse, sniff=sniff)
