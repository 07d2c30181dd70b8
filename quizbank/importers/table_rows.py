"""The one-row-per-question table used by Chinese exam systems, read row by row into records: shared
by the CSV and xlsx importers, and by the xlsx exporter to check that what it writes reads back. The
columns and cells are in quizbank/importers/table_cells.py, the downloadable template in
quizbank/spreadsheet.py.

Columns (row 1 names them; the order is free, unknown columns are ignored; a trailing `*`
marking a required column is allowed). Chinese and English names mean the same:

    题目 stem (required)            类型 type          答案 answer          解析 explanation
    选项A..选项Z option_a..option_z  分值 score         漏选分 partial_score  难度 difficulty
    知识点 knowledge_points          标签 tags          科目 subject         出处 source
    答案无顺序 order_free            区分大小写 case_sensitive             每空分值 blank_scores

ExamStack's extra columns are read too: 所属知识点 (a knowledge point, like 知识点), 知识类 and
知识关键点 (tags), 出处 (the question's source, kept in `source_dataset`), 试题解析 (the
explanation where 解析 is empty).

Cell rules:
- 类型: 单选题 多选题 判断题 填空题 简答题/问答题 论述题 分析题 计算题 数值题 说明 (or single, multiple,
  true_false, fill_blank, short_answer, essay, numerical, description). 分析题 and 计算题 become
  essays: a worked answer that a teacher or the model grades. An empty 类型 is inferred: options
  and letters → 单选/多选, 对/错 → 判断, otherwise 简答.
- 答案: option letters (`B`, `ACD`, `A,C,D`); 对/错/√/×/是/否/T/F for 判断; for 填空 one answer per
  blank separated by `|` or `；`, alternatives for one blank by `/` (`山西/山西省/晋|北京`), and
  `\\` before one of `| ； ; /` makes it literal; for 数值 `3.14`, `3.14±0.01` or `1..5`.
- 难度: 1–5, or 极易/易/容易/简单 = 1, 较易 = 2, 中/中等/适中/一般 = 3, 较难 = 4, 难/困难/极难 = 5
  (easy 1, medium 3, hard 5).
- 分值 defaults to 1 (for 填空 with 每空分值, their sum); a 填空's score is split evenly over its
  blanks unless 每空分值 (`2|3`) gives each. 漏选分 is the score for a correct subset of a 多选.
- 知识点 and 标签 hold several names separated by `,` `，` `;` `；` or `|`.
- A cell written by the exporter as `'=...` (see `neutralise`) reads back without the `'`.

评分数据 (grading_data) is written by the exporter, never by hand: JSON with what the other columns
cannot hold (option weights and feedback, several accepted answers, rubrics, matching pairs, cloze
parts, an HTML stem's format, general feedback). It is used where it still agrees with 答案 and the options, so a teacher's later edits to
those columns win; matching and cloze rows need it.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable
from decimal import Decimal

from quizbank.importers.base import ParseStream, QuestionRecord, RowError, parse_bool
from quizbank.importers.excerpts import excerpt
from quizbank.importers.table_cells import (
    ALLOWED_TYPE_TEXT,
    GRADING_DATA_TYPES,
    LETTER_SEPARATORS,
    STEM_FORMATS,
    Columns,
    cell_text,
    columns_of,
    essay_data,
    fill_blank_answers,
    fill_blank_data,
    json_number,
    numerical_answer,
    numerical_data,
    numerical_text,
    parse_decimal,
    parse_difficulty,
    parse_type,
    row_dict,
    short_answer_data,
    split_names,
    true_false_data,
)
from quizbank.models import QuestionType

# --- one row --------------------------------------------------------------------------------------


class _RowProblem(Exception):
    def __init__(self, field_name: str, message: str, *, header: str = ""):
        self.field_name = field_name
        self.message = message
        self.header = header  # the exact column, where it is not the field's usual one


def row_to_record(row: dict, *, file_name: str, row_number: int, subject: str) -> QuestionRecord | RowError:
    """One table row (header -> cell text) as a validated record, or the first problem found,
    naming the column as the teacher's header spells it."""
    columns = columns_of(tuple(row))
    try:
        record = _build_record(row, columns, file_name=file_name, row_number=row_number, subject=subject)
    except _RowProblem as problem:
        where = problem.header or columns.name(problem.field_name)
        return RowError(file_name, row_number, where, problem.message, excerpt=_row_excerpt(row))
    # a row without a subject is left for the import's default subject (quizbank/importers/detect.py)
    errors = [error for error in record.validate() if error.field != "subject" or record.subject]
    if errors:
        error = errors[0]
        return RowError(file_name, row_number, columns.name(error.field), error.message, excerpt=_row_excerpt(row))
    return record


def _row_excerpt(row: dict) -> str:
    """The row's filled cells in order, as the teacher sees them in the sheet."""
    return excerpt(" | ".join(str(value) for value in row.values() if str(value or "").strip()))


class _Cells:
    """A row's cells by field: the first non-empty column of each field, read as text, number or flag."""

    def __init__(self, row: dict, columns: Columns):
        self.row = row
        self.columns = columns

    def value(self, field_name: str) -> str:
        for header in self.columns.fields.get(field_name, ()):
            text = cell_text(self.row.get(header))
            if text:
                return text
        return ""

    def number(self, field_name: str) -> Decimal | None:
        text = self.value(field_name)
        number = parse_decimal(text) if text else None
        if text and number is None:
            raise _RowProblem(field_name, f"{text!r} is not a number")
        return number

    def flag(self, field_name: str, default: bool) -> bool:
        text = self.value(field_name)
        if not text:
            return default
        parsed = parse_bool(text)
        if parsed is None:
            raise _RowProblem(field_name, f"{text!r} is not 是/否 (yes/no)")
        return parsed


def _build_record(row: dict, columns: Columns, *, file_name: str, row_number: int, subject: str) -> QuestionRecord:
    cells = _Cells(row, columns)
    stem = cells.value("stem")
    if not stem:
        raise _RowProblem("stem", "the question text is empty")
    options = _options(row, columns)
    answer_text = cells.value("answer")
    qtype = _row_type(cells, options, answer_text)
    score = cells.number("score")
    partial = cells.number("partial_score")
    difficulty_text = cells.value("difficulty")
    difficulty = parse_difficulty(difficulty_text) if difficulty_text else None
    if difficulty_text and difficulty is None:
        raise _RowProblem(
            "difficulty", f"{difficulty_text!r} is not a difficulty: use 1–5 or 易/中/难 (easy/medium/hard)"
        )
    case_sensitive = cells.flag("case_sensitive", True)
    if cells.value("case_insensitive"):
        case_sensitive = not cells.flag("case_insensitive", False)

    record = QuestionRecord(
        subject=cells.value("subject") or subject,
        qtype=qtype,
        stem=stem,
        explanation=cells.value("explanation"),
        score=score if score is not None else Decimal(1),
        partial_score=partial,
        difficulty=difficulty,
        tags=_names(row, columns, "tags"),
        knowledge_points=_names(row, columns, "knowledge_points"),
        source_file=file_name,
        source_row=row_number,
        source_dataset=cells.value("source"),
    )
    _set_key(record, cells, options, answer_text, score=score, case_sensitive=case_sensitive)
    if grading := cells.value("grading_data"):
        _apply_grading_data(record, grading)
    return record


def _row_type(cells: _Cells, options: list[dict], answer_text: str) -> str:
    """The 类型 cell's type, or one inferred from the options and the answer when it is empty."""
    type_text = cells.value("type")
    if not type_text:
        return _infer_type(options, answer_text)
    qtype = parse_type(type_text)
    if qtype is None:
        raise _RowProblem("type", f"{type_text!r} is not a question type; use one of {ALLOWED_TYPE_TEXT}")
    if qtype in GRADING_DATA_TYPES and not cells.value("grading_data"):
        raise _RowProblem(
            "type",
            f"a {type_text} question cannot be written in one row; import it as Moodle XML, GIFT or QTI instead",
        )
    return qtype


def _set_key(
    record: QuestionRecord,
    cells: _Cells,
    options: list[dict],
    answer_text: str,
    *,
    score: Decimal | None,
    case_sensitive: bool,
) -> None:
    """The record's answer and answer_data (and options) from the 答案 cell, by type."""
    qtype = record.qtype
    if qtype in (QuestionType.SINGLE_CHOICE, QuestionType.MULTIPLE_CHOICE):
        record.options = options
        record.answer = _choice_answer(answer_text, options, qtype, cells.columns.name("options"))
    elif qtype == QuestionType.TRUE_FALSE:
        record.answer = _true_false_answer(answer_text, options)
        record.answer_data = true_false_data()
    elif qtype == QuestionType.FILL_BLANK:
        _fill_blank(
            record,
            answer_text,
            cells.value("blank_scores"),
            score,
            cells.columns,
            order_free=cells.flag("order_free", False),
            case_sensitive=case_sensitive,
        )
    elif qtype == QuestionType.NUMERICAL:
        data = numerical_data(answer_text)
        if data is None:
            raise _RowProblem("answer", f"{answer_text!r} is not a number like 3.14, 3.14±0.01 or 1..5")
        record.answer, record.answer_data = numerical_answer(data), data
    elif qtype == QuestionType.SHORT_ANSWER:
        if not answer_text:
            raise _RowProblem("answer", "a short-answer question needs a reference answer")
        record.answer = answer_text
        record.answer_data = short_answer_data([answer_text], case_sensitive=case_sensitive)
    elif qtype == QuestionType.ESSAY:
        record.answer, record.answer_data = answer_text, essay_data()
    else:
        record.answer = answer_text


def _apply_grading_data(record: QuestionRecord, text: str) -> None:
    """Put back what the exporter kept in 评分数据 (option weights and feedback, the whole
    answer_data) where it still agrees with the readable columns; those win where a teacher
    has edited them since."""
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise _RowProblem("grading_data", "is not the JSON the export wrote; clear the cell to use the other columns")
    extras = data.get("options")
    if isinstance(extras, list) and record.options:
        by_key = {str(extra.get("key")): extra for extra in extras if isinstance(extra, dict)}
        if set(by_key) == {option["key"] for option in record.options} and _key_of(by_key, record.qtype) == set(
            record.answer
        ):
            for option in record.options:
                option.update(
                    {
                        name: by_key[option["key"]][name]
                        for name in ("fraction", "feedback")
                        if name in by_key[option["key"]]
                    }
                )
    if data.get("stem_format") in STEM_FORMATS:
        record.stem_format = data["stem_format"]  # html is sanitised after parsing, as for every format
    if isinstance(data.get("general_feedback"), str):
        record.general_feedback = data["general_feedback"]
    answer_data = data.get("answer_data")
    try:
        agrees = isinstance(answer_data, dict) and _same_key(record, answer_data)
    except (KeyError, TypeError, AttributeError, ValueError):
        agrees = False
    if agrees:
        record.answer_data = answer_data


def _key_of(options: dict[str, dict], qtype: str) -> set[str]:
    """The correct letters the option weights give: the best option, or every positive one."""
    weights = {key: extra.get("fraction") for key, extra in options.items()}
    if not all(isinstance(weight, int | float) for weight in weights.values()):
        return set()
    if qtype == QuestionType.SINGLE_CHOICE:
        best = max(weights.values(), default=0)
        return {key for key, weight in weights.items() if weight == best and weight > 0}
    return {key for key, weight in weights.items() if weight > 0}


def _same_key(record: QuestionRecord, answer_data: dict) -> bool:
    """Whether stored answer_data still says what the readable 答案 says."""
    if record.qtype == QuestionType.SHORT_ANSWER:
        answers = answer_data.get("answers")
        return bool(answers) and isinstance(answers[0], dict) and answers[0].get("text") == record.answer
    if record.qtype == QuestionType.NUMERICAL:
        return numerical_text(answer_data, "") == numerical_text(record.answer_data, "")
    if record.qtype == QuestionType.FILL_BLANK:
        blanks = answer_data.get("blanks")
        mine = [blank["answers"] for blank in record.answer_data["blanks"]]
        return (
            isinstance(blanks, list) and [blank.get("answers") for blank in blanks if isinstance(blank, dict)] == mine
        )
    return True  # the other types keep no key in answer_data (choices) or only what no column holds


def _options(row: dict, columns: Columns) -> list[dict]:
    filled = {letter: cell_text(row.get(header)) for letter, header in columns.options.items()}
    letters = sorted(letter for letter, text in filled.items() if text)
    options = []
    for index, letter in enumerate(letters):
        expected = chr(ord("A") + index)
        if letter != expected:
            missing = columns.options.get(expected, expected)
            raise _RowProblem(
                "options",
                f"{missing} is empty but {columns.options[letter]} is filled; fill the options from A on",
                header=missing,
            )
        options.append({"key": letter, "text": filled[letter]})
    return options


def _infer_type(options: list[dict], answer: str) -> str:
    letters = LETTER_SEPARATORS.sub("", unicodedata.normalize("NFKC", answer).upper())
    if options and letters and all(letter in {o["key"] for o in options} for letter in letters):
        return QuestionType.SINGLE_CHOICE if len(letters) == 1 else QuestionType.MULTIPLE_CHOICE
    if answer and parse_bool(answer) is not None:
        return QuestionType.TRUE_FALSE
    return QuestionType.SHORT_ANSWER


def _choice_answer(text: str, options: list[dict], qtype: str, options_name: str) -> str:
    if not options:
        raise _RowProblem(
            "options", f"a choice question needs its options in {options_name}, {options_name[:-1]}B, ..."
        )
    if not text:
        raise _RowProblem("answer", "the answer is empty; give the letter of the correct option, e.g. B")
    keys = [option["key"] for option in options]
    letters = LETTER_SEPARATORS.sub("", unicodedata.normalize("NFKC", text).upper())
    if not letters or not all("A" <= letter <= "Z" for letter in letters):
        matching = [option["key"] for option in options if option["text"] == text]
        if len(matching) != 1:
            raise _RowProblem(
                "answer",
                f"{text!r} is not an option letter; write the letter(s) of the correct option(s), e.g. B or ACD",
            )
        letters = matching[0]
    missing = [letter for letter in letters if letter not in keys]
    if missing:
        raise _RowProblem(
            "answer", f"the answer names option {', '.join(missing)}, which is empty (options: {', '.join(keys)})"
        )
    chosen = [key for key in keys if key in letters]
    if qtype == QuestionType.SINGLE_CHOICE and len(chosen) != 1:
        raise _RowProblem(
            "answer",
            f"a 单选题 (single choice) has one correct option, not {text!r}; use 多选题 (multiple) for several",
        )
    return "".join(chosen)


def _true_false_answer(text: str, options: list[dict]) -> str:
    parsed = parse_bool(text)
    if parsed is None and options:
        # 判断 written as a choice between 选项A 对 and 选项B 错
        letter = unicodedata.normalize("NFKC", text).strip().upper()
        chosen = next((option["text"] for option in options if option["key"] == letter), None)
        parsed = parse_bool(chosen) if chosen is not None else None
    if parsed is None:
        raise _RowProblem("answer", f"{text!r} is not a true/false answer: write 对 or 错 (√/×, true/false)")
    return "true" if parsed else "false"


def _fill_blank(
    record: QuestionRecord,
    text: str,
    blank_scores_text: str,
    score: Decimal | None,
    columns: Columns,
    *,
    order_free: bool,
    case_sensitive: bool,
) -> None:
    if not text:
        raise _RowProblem(
            "answer", "a fill-in-the-blank question needs an answer for each blank, separated by | (e.g. 北京|上海)"
        )
    blanks = fill_blank_answers(text)
    for index, answers in enumerate(blanks, start=1):
        if not answers:
            raise _RowProblem("answer", f"blank {index} of {len(blanks)} has no answer in {text!r}")
    if blank_scores_text:
        scores = [parse_decimal(part) for part in re.split(r"[|；;,，\s]+", blank_scores_text.strip())]
        if any(part is None for part in scores):
            raise _RowProblem("blank_scores", f"{blank_scores_text!r} is not a list of numbers like 2|3")
        if len(scores) != len(blanks):
            raise _RowProblem("blank_scores", f"gives {len(scores)} scores for {len(blanks)} blanks")
        total = sum(scores, Decimal(0))
        if score is None:
            record.score = total
        elif abs(total - score) > Decimal("0.01") * len(blanks):
            raise _RowProblem(
                "blank_scores", f"the blank scores add up to {total}, but {columns.name('score')} is {score}"
            )
    else:
        scores = [record.score / len(blanks)] * len(blanks)
    record.answer = "；".join(answers[0] for answers in blanks)
    record.answer_data = fill_blank_data(
        blanks, [json_number(part) for part in scores], order_free=order_free, case_sensitive=case_sensitive
    )


def _names(row: dict, columns: Columns, field_name: str) -> list[str]:
    names: list[str] = []
    for header in columns.fields.get(field_name, ()):
        names += split_names(cell_text(row.get(header)))
    return list(dict.fromkeys(names))


# --- whole tables ---------------------------------------------------------------------------------

HEADER_SEARCH_ROWS = 10


def records_from_rows(rows: Iterable[tuple[int, list]], *, file_name: str, subject: str) -> ParseStream:
    """Records from (row number, cells) pairs: the header is the first row, among the first few,
    that names a stem column (a title row above it is allowed); empty rows are skipped."""
    headers: list[str] | None = None
    for row_number, values in rows:
        texts = [cell_text(value) for value in values]
        if headers is None:
            if columns_of(tuple(texts)).has_stem:
                headers = texts
            elif row_number >= HEADER_SEARCH_ROWS:
                break
            continue
        if not any(texts):
            continue
        yield row_to_record(row_dict(headers, texts), file_name=file_name, row_number=row_number, subject=subject)
    if headers is None:
        yield RowError(
            file_name,
            1,
            "题目",
            "no header row: the first row must name the columns, e.g. 题目,类型,答案,解析,选项A,...,分值,难度,知识点 "
            "(or stem,type,answer,explanation,option_a,...)",
        )


def header_looks_like_ours(cells: list[str]) -> bool:
    """A header with a stem column and a type or answer column (for sniffing)."""
    columns = columns_of(tuple(cells))
    return columns.has_stem and ("type" in columns.fields or "answer" in columns.fields)
