"""A paper's results as an xlsx workbook: each student's grade, and each question's statistics."""

from __future__ import annotations

import io
from collections.abc import Iterable

from quizbank.exporters.xlsx import sheet_cell

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def results_workbook(*, grades: Iterable[dict], statistics: Iterable) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("成绩")
    sheet.append(["学号", "姓名", "作答次数", "已交卷", "成绩"])
    for entry in grades:
        user = entry["user"]
        grade = entry["grade"]
        sheet.append(
            [sheet_cell(v) for v in (user.username, user.get_full_name(), entry["attempts"], entry["finished"])]
            + [None if grade is None else float(grade)]
        )
    items = workbook.create_sheet("题目统计")
    items.append(["题号", "题目", "题型", "作答人数", "满分", "平均分", "得分率", "区分度"])
    for row in statistics:
        items.append(
            [
                row.position,
                sheet_cell(row.stem[:200]),
                row.qtype,
                row.attempts,
                float(row.max_mark),
                row.mean_mark,
                row.facility,
                row.discrimination,
            ]
        )
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
