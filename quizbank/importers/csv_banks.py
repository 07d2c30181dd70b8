"""C-Eval and CMMLU CSV files: four-option single-choice questions, one subject per file.

- C-Eval (`ceval/dev/high_school_physics_dev.csv`): header `id,question,A,B,C,D,answer,explanation` (dev)
  or without `explanation` (val); CRLF line ends, quoted fields spanning lines, "____" for a blank.
- CMMLU (`cmmlu/data/test/computer_science.csv`): header `,Question,A,B,C,D,Answer`, the first column
  unnamed. Text is kept as written, Kangxi-radical look-alikes ("⼀" for "一") included: duplicate
  detection compares NFKC-normalised text. Options are stripped of surrounding spaces; odd-looking
  options are imported as they are, but an empty one is an error naming its row and column.

The subject comes from the file name: "<dataset>/<中文科目名>" via C_EVAL_SUBJECTS / CMMLU_SUBJECTS
(the names the datasets publish), else "<dataset>/<file stem>" ("C-Eval/high_school_physics") for a
subject not listed; C-Eval's "_dev"/"_val"/"_test" suffix is dropped. Both datasets are
CC BY-NC-SA 4.0: evaluation only, flagged by `Question.is_non_commercial`.
`source_row` is the record's number in the file with the header as record 1 (a spreadsheet's row).
"""

from __future__ import annotations

import csv
import io
from pathlib import PurePath

from quizbank.importers.base import ImportSource, ParseStream, QuestionRecord, RowError
from quizbank.importers.registry import Format
from quizbank.models import QuestionType

LICENCE = "CC BY-NC-SA 4.0"
OPTION_COLUMNS = ("A", "B", "C", "D")
C_EVAL_HEADERS = (
    ("id", "question", "a", "b", "c", "d", "answer", "explanation"),
    ("id", "question", "a", "b", "c", "d", "answer"),
)
CMMLU_HEADER = ("", "question", "a", "b", "c", "d", "answer")
SPLIT_SUFFIXES = ("_dev", "_val", "_test")

C_EVAL_SUBJECTS = {
    "accountant": "注册会计师",
    "advanced_mathematics": "高等数学",
    "art_studies": "艺术学",
    "basic_medicine": "基础医学",
    "business_administration": "工商管理",
    "chinese_language_and_literature": "中国语言文学",
    "civil_servant": "公务员",
    "clinical_medicine": "临床医学",
    "college_chemistry": "大学化学",
    "college_economics": "大学经济学",
    "college_physics": "大学物理",
    "college_programming": "大学编程",
    "computer_architecture": "计算机组成",
    "computer_network": "计算机网络",
    "discrete_mathematics": "离散数学",
    "education_science": "教育学",
    "electrical_engineer": "注册电气工程师",
    "environmental_impact_assessment_engineer": "环境影响评价工程师",
    "fire_engineer": "注册消防工程师",
    "high_school_biology": "高中生物",
    "high_school_chemistry": "高中化学",
    "high_school_chinese": "高中语文",
    "high_school_geography": "高中地理",
    "high_school_history": "高中历史",
    "high_school_mathematics": "高中数学",
    "high_school_physics": "高中物理",
    "high_school_politics": "高中政治",
    "ideological_and_moral_cultivation": "思想道德修养与法律基础",
    "law": "法学",
    "legal_professional": "法律职业资格",
    "logic": "逻辑学",
    "mao_zedong_thought": "毛泽东思想和中国特色社会主义理论体系概论",
    "marxism": "马克思主义基本原理",
    "metrology_engineer": "注册计量师",
    "middle_school_biology": "初中生物",
    "middle_school_chemistry": "初中化学",
    "middle_school_geography": "初中地理",
    "middle_school_history": "初中历史",
    "middle_school_mathematics": "初中数学",
    "middle_school_physics": "初中物理",
    "middle_school_politics": "初中政治",
    "modern_chinese_history": "近代史纲要",
    "operating_system": "操作系统",
    "physician": "医师资格",
    "plant_protection": "植物保护",
    "probability_and_statistics": "概率统计",
    "professional_tour_guide": "导游资格",
    "sports_science": "体育学",
    "tax_accountant": "税务师",
    "teacher_qualification": "教师资格",
    "urban_and_rural_planner": "注册城乡规划师",
    "veterinary_medicine": "兽医学",
}
CMMLU_SUBJECTS = {
    "chinese_civil_service_exam": "中国公务员考试",
    "chinese_driving_rule": "中国驾驶规则",
    "computer_science": "计算机科学",
    "high_school_mathematics": "高中数学",
    "traditional_chinese_medicine": "中医中药",
}


def _header_kind(fields: list[str]) -> str | None:
    """Which dataset a header names: "C-Eval", "CMMLU", or None."""
    names = tuple(field.strip().lower() for field in fields)
    if names in C_EVAL_HEADERS:
        return "C-Eval"
    if names == CMMLU_HEADER:
        return "CMMLU"
    return None


def sniff(head: str, file_name: str) -> bool:
    first_line = head.lstrip("\ufeff").split("\n", 1)[0].rstrip("\r")
    try:
        header = next(csv.reader([first_line]))
    except (csv.Error, StopIteration):
        return False
    return _header_kind(header) is not None


def subject_for(dataset: str, file_name: str) -> str:
    """("C-Eval", "high_school_physics_dev.csv") → "C-Eval/高中物理"."""
    stem = PurePath(file_name).stem
    if dataset == "C-Eval":
        for suffix in SPLIT_SUFFIXES:
            if stem.endswith(suffix):
                stem = stem[: -len(suffix)]
                break
    names = C_EVAL_SUBJECTS if dataset == "C-Eval" else CMMLU_SUBJECTS
    return f"{dataset}/{names.get(stem, stem)}"


def parse(source: ImportSource) -> ParseStream:
    name = source.file_name
    reader = csv.reader(io.StringIO(source.text(), newline=""))
    try:
        header = next(reader)
    except StopIteration:
        yield RowError(name, None, "(file)", "the file is empty")
        return
    dataset = _header_kind(header)
    if dataset is None:
        yield RowError(
            name,
            1,
            "(header)",
            "expected the C-Eval header id,question,A,B,C,D,answer[,explanation] "
            "or the CMMLU header ,Question,A,B,C,D,Answer",
        )
        return
    columns = {field.strip().lower(): index for index, field in enumerate(header)}
    subject = subject_for(dataset, name)
    row = 1
    try:
        for row, fields in enumerate(reader, start=2):
            if not any(field.strip() for field in fields):
                continue
            yield _record(fields, header=header, columns=columns, dataset=dataset, subject=subject, name=name, row=row)
    except csv.Error as exc:
        yield RowError(name, row + 1, "(csv)", f"unreadable CSV: {exc}")


def _record(fields, *, header, columns, dataset, subject, name, row) -> QuestionRecord | RowError:
    if len(fields) != len(header):
        return RowError(name, row, "(row)", f"has {len(fields)} fields; the header has {len(header)}")

    def value(column: str) -> str:
        index = columns.get(column.lower())
        return "" if index is None else fields[index].replace("\r\n", "\n").strip()

    options = [{"key": key, "text": value(key)} for key in OPTION_COLUMNS]
    empty = [option["key"] for option in options if not option["text"]]
    if empty:
        return RowError(name, row, empty[0], f"option {', '.join(empty)} is empty")
    return QuestionRecord(
        subject=subject,
        qtype=QuestionType.SINGLE_CHOICE,
        stem=value("question"),
        options=options,
        answer=value("answer").upper(),
        explanation=value("explanation"),
        source_file=name,
        source_row=row,
        source_dataset=dataset,
        source_licence=LICENCE,
    )


FORMAT = Format(name="ceval-cmmlu", label="C-Eval / CMMLU CSV", extensions=(".csv",), parse=parse, sniff=sniff)
