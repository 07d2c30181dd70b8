"""The bank as an Excel workbook in the Chinese-header table (quizbank/importers/table_rows.py), which the
xlsx importer reads back to the same questions (same content hashes).

Safety: a cell whose text starts with `=` `+` `-` `@` (or a tab or CR) is written with a `'` in
front (`table_cells.neutralise`) and stored as a string, so no spreadsheet ever runs it as a
formula; the importer drops that `'` again. Characters XML cannot hold (control characters other
than tab and newline) are left out.

What the readable columns cannot hold (option weights and feedback, several accepted answers,
true/false feedback, rubrics, matching pairs, cloze parts, an HTML stem's format, general
feedback) goes as JSON into a last column, 评分数据, for the rows that need it, so that every question type comes back unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path

from quizbank.importers import table_cells
from quizbank.importers.base import RowError
from quizbank.importers.table_rows import row_to_record
from quizbank.models import Question, QuestionType

OPTION_LETTERS_MIN = 6
BATCH = 1000
# the template's columns, with as many option columns as the widest question needs
HEADERS_BEFORE_OPTIONS = table_cells.ZH_HEADERS[:4]
HEADERS_AFTER_OPTIONS = [header for header in table_cells.ZH_HEADERS[4:] if not header.startswith("选项")]
GRADING_DATA = "评分数据"


def export(questions: Iterable, out: Path) -> int:
    """Write `questions` (Question rows or QuestionRecords) to `out`; the number written."""
    from openpyxl import Workbook

    rows = list(_rows(questions))  # gathered first: the option columns depend on the widest question
    option_count = max([OPTION_LETTERS_MIN, *(len(row["options"]) for row in rows)])
    option_headers = [f"选项{chr(ord('A') + index)}" for index in range(option_count)]
    headers = HEADERS_BEFORE_OPTIONS + option_headers + HEADERS_AFTER_OPTIONS
    if any(GRADING_DATA in row for row in rows):
        headers.append(GRADING_DATA)

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("题目")
    sheet.append(headers)
    for row in rows:
        options = [option["text"] for option in row.pop("options")]
        row.update(zip(option_headers, options, strict=False))
        sheet.append([sheet_cell(row.get(header, "")) for header in headers])
    out.parent.mkdir(parents=True, exist_ok=True)
    workbook.save(out)
    return len(rows)


def sheet_cell(value):
    """A value as a spreadsheet cell: empty as None, text without control characters and with no
    formula that runs (table_cells.neutralise)."""
    if value == "" or value is None:
        return None
    if not isinstance(value, str):
        return value
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    return table_cells.neutralise(ILLEGAL_CHARACTERS_RE.sub("", value))


def _rows(questions: Iterable) -> Iterator[dict]:
    iterator = iter(questions)
    while batch := list(islice(iterator, BATCH)):
        names = _linked_names(batch)
        for question in batch:
            tags, points = names.get(id(question), (None, None))
            yield _row(question, tags=tags, points=points)


def _linked_names(batch: list) -> dict[int, tuple[list[str], list[str]]]:
    """Tags and knowledge points of a batch of Question rows in two queries (records carry lists)."""
    saved = [question for question in batch if isinstance(question, Question) and question.pk]
    if not saved:
        return {}
    by_pk: dict[int, tuple[list[str], list[str]]] = {question.pk: ([], []) for question in saved}
    tag_links = Question.tags.through.objects.filter(question_id__in=by_pk).order_by("id")
    for question_id, name in tag_links.values_list("question_id", "tag__name"):
        by_pk[question_id][0].append(name)
    point_links = Question.knowledge_points.through.objects.filter(question_id__in=by_pk).order_by("id")
    for question_id, name in point_links.values_list("question_id", "knowledgepoint__name"):
        by_pk[question_id][1].append(name)
    return {id(question): by_pk[question.pk] for question in saved}


def _row(question, *, tags: list[str] | None, points: list[str] | None) -> dict:
    qtype = question.qtype
    data = question.answer_data or {}
    subject = getattr(question, "subject", "")
    row = {
        "题目": question.stem,
        "类型": table_cells.TYPE_LABELS.get(qtype, str(qtype)),
        "答案": question.answer,
        "解析": question.explanation,
        "options": [],
        "分值": _number(question.score),
        "漏选分": _number(question.partial_score) if question.partial_score is not None else "",
        "难度": question.difficulty or "",
        "知识点": "；".join(points if points is not None else _listed(question.knowledge_points)),
        "标签": "；".join(tags if tags is not None else _listed(question.tags)),
        "科目": getattr(subject, "path", subject) or "",
        "出处": question.source_dataset,
    }
    if qtype in (QuestionType.SINGLE_CHOICE, QuestionType.MULTIPLE_CHOICE):
        row["options"] = question.options
    elif qtype == QuestionType.TRUE_FALSE:
        row["答案"] = "对" if question.answer == "true" else "错"
    elif qtype == QuestionType.FILL_BLANK:
        blanks = data.get("blanks") or []
        row["答案"] = "|".join(
            "/".join(table_cells.escape_answer(a) for a in blank.get("answers", [])) for blank in blanks
        )
        row["答案无顺序"] = "是" if data.get("order_free") else "否"
        row["区分大小写"] = "是" if data.get("case_sensitive", True) else "否"
        scores = [blank.get("score", 1) for blank in blanks]
        even = [table_cells.json_number(question.score / len(blanks))] * len(blanks) if blanks else []
        if scores != even:
            row["每空分值"] = "|".join(str(score) for score in scores)
    elif qtype == QuestionType.SHORT_ANSWER:
        row["区分大小写"] = "是" if data.get("case_sensitive", True) else "否"
    elif qtype == QuestionType.NUMERICAL:
        row["答案"] = table_cells.numerical_text(data, question.answer)
    kept = {"stem_format": question.stem_format} if question.stem_format != "plain" else {}
    if question.general_feedback:
        kept["general_feedback"] = question.general_feedback
    if kept or not _reads_back(question, row):
        extras = [
            {k: v for k, v in option.items() if k in ("key", "fraction", "feedback")} for option in question.options
        ]
        row[GRADING_DATA] = json.dumps({"options": extras, "answer_data": data, **kept}, ensure_ascii=False)
    return row


def _reads_back(question, row: dict) -> bool:
    """Whether the importer rebuilds the question's key from the readable columns alone."""
    cells = {header: table_cells.cell_text(sheet_cell(value)) for header, value in row.items() if header != "options"}
    cells.update(
        {
            f"选项{chr(ord('A') + index)}": table_cells.cell_text(sheet_cell(option["text"]))
            for index, option in enumerate(row["options"])
        }
    )
    rebuilt = row_to_record(cells, file_name="", row_number=0, subject="-")
    if isinstance(rebuilt, RowError):
        return False
    mine = (question.qtype, question.answer, question.options, question.answer_data or {})
    return (rebuilt.qtype, rebuilt.answer, rebuilt.options, rebuilt.answer_data) == mine


def _listed(names) -> list[str]:
    """A record's list of names (an unsaved Question has none)."""
    return [str(name) for name in names] if isinstance(names, list | tuple) else []


def _number(value):
    return "" if value is None else table_cells.json_number(value)
