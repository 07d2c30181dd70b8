"""The one-row-per-question table used by Chinese exam systems, shared by the CSV and xlsx
importers, the xlsx exporter and the downloadable template.

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

import io
import json
import re
import unicodedata
from collections.abc import Iterable
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from quizbank.importers.base import ParseStream, QuestionRecord, RowError, parse_bool
from quizbank.models import QuestionType

# --- columns --------------------------------------------------------------------------------------

# canonical field -> accepted header names, most preferred first (compared after `_header_key`)
HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "stem": ("题目", "题干", "试题", "题目内容", "试题内容", "stem", "question", "questiontext"),
    "type": ("类型", "题型", "试题类型", "题目类型", "type", "questiontype", "qtype"),
    "answer": ("答案", "正确答案", "参考答案", "标准答案", "answer", "correctanswer", "key"),
    "explanation": ("解析", "答案解析", "试题解析", "explanation", "analysis"),
    "score": ("分值", "分数", "score", "points", "marks"),
    "partial_score": ("漏选分", "漏选得分", "部分得分", "partialscore"),
    "difficulty": ("难度", "难易程度", "difficulty"),
    "knowledge_points": ("知识点", "所属知识点", "knowledgepoints", "knowledgepoint"),
    "tags": ("标签", "知识类", "知识关键点", "关键词", "tags", "tag", "keywords"),
    "subject": ("科目", "学科", "所属科目", "subject"),
    "source": ("出处", "来源", "source"),
    "order_free": ("答案无顺序", "orderfree"),
    "case_sensitive": ("区分大小写", "casesensitive"),
    "case_insensitive": ("不区分大小写", "caseinsensitive"),
    "blank_scores": ("每空分值", "每空分数", "blankscores"),
    "grading_data": ("评分数据", "gradingdata"),
}
_OPTION_HEADER = re.compile(r"^(?:选项|option)?([a-z])$")

# the layout as the template and the exporter write it; the English names are the field names
ZH_HEADERS = (
    "题目 类型 答案 解析 选项A 选项B 选项C 选项D 选项E 选项F 分值 漏选分 难度 知识点 标签 科目 出处 答案无顺序 区分大小写 每空分值"
).split()
EN_HEADERS = (
    "stem type answer explanation option_a option_b option_c option_d option_e option_f score partial_score "
    "difficulty knowledge_points tags subject source order_free case_sensitive blank_scores"
).split()
# the name used in an error when the file has no such column
_DEFAULT_NAMES = {
    "zh": dict(zip(EN_HEADERS, ZH_HEADERS, strict=True)) | {"options": "选项A"},
    "en": {name: name for name in EN_HEADERS} | {"options": "option_a"},
}


def _header_key(header) -> str:
    text = unicodedata.normalize("NFKC", str(header or "")).strip().lower().rstrip("*").strip()
    return re.sub(r"[\s_\-]+", "", text)


_ALIAS_FIELD = {alias: name for name, aliases in HEADER_ALIASES.items() for alias in aliases}


class Columns:
    """Where each field is in a file's header: canonical field -> the teacher's header names."""

    def __init__(self, headers: tuple[str, ...]):
        self.fields: dict[str, list[str]] = {}
        self.options: dict[str, str] = {}  # option letter -> header
        self.language = "en"
        for header in headers:
            key = _header_key(header)
            if not key:
                continue
            if re.search(r"[\u4e00-\u9fff]", key):
                self.language = "zh"
            option = _OPTION_HEADER.match(key)
            if option:
                self.options.setdefault(option.group(1).upper(), header)
            elif key in _ALIAS_FIELD:
                self.fields.setdefault(_ALIAS_FIELD[key], []).append(header)
        for name, headers_of_field in self.fields.items():
            order = {alias: index for index, alias in enumerate(HEADER_ALIASES[name])}
            headers_of_field.sort(key=lambda header: order[_header_key(header)])

    @property
    def has_stem(self) -> bool:
        return "stem" in self.fields

    def name(self, field_name: str) -> str:
        """The header a teacher sees for a field (or the layout's name when the column is absent)."""
        if field_name == "options" and self.options:
            return self.options[min(self.options)]
        if field_name == "case_sensitive" and "case_sensitive" not in self.fields and "case_insensitive" in self.fields:
            field_name = "case_insensitive"
        headers = self.fields.get(field_name)
        if headers:
            return headers[0]
        return _DEFAULT_NAMES[self.language].get(field_name, field_name)


@lru_cache(maxsize=64)
def columns_of(headers: tuple[str, ...]) -> Columns:
    return Columns(headers)


# --- cells ----------------------------------------------------------------------------------------

# Leading characters a spreadsheet may treat as the start of a formula (OWASP "CSV injection").
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise(text: str) -> str:
    """Text safe to put in a cell: a leading `=` `+` `-` `@` (tab, CR) gets a `'` in front, so a
    spreadsheet shows it as text and never runs it; `cell_text` removes that `'` again. Text that
    already starts with `'` and one of those characters gets one more, so it reads back unchanged."""
    if text.lstrip("'").startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def cell_text(value) -> str:
    """A cell (from csv or openpyxl) as the text a teacher typed; formulas stay text."""
    if value is None:
        return ""
    if type(value) is str and "\r" not in value and not value.startswith("'"):
        return value.strip()  # the common case, first: plain text
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    text = str(value).replace("\r\n", "\n").replace("\r", "\n").strip()
    if text.startswith("'") and text.lstrip("'").startswith(FORMULA_PREFIXES):
        text = text[1:]
    return text


def row_dict(headers: list[str], values: Iterable) -> dict[str, str]:
    """Header -> cell text; of two columns with the same name the first non-empty one counts."""
    row: dict[str, str] = {}
    for header, value in zip(headers, values, strict=False):
        if not header:
            continue
        if not row.get(header):
            row[header] = cell_text(value)
    return row


# --- values ---------------------------------------------------------------------------------------

# 类型 words (the first is the label the exporter writes)
_TYPE_WORDS = {
    QuestionType.SINGLE_CHOICE: "单选题 单选 单项选择题 单项选择 single singlechoice",
    QuestionType.MULTIPLE_CHOICE: "多选题 多选 多项选择题 多项选择 不定项选择题 不定项 multiple multiplechoice multi",
    QuestionType.TRUE_FALSE: "判断题 判断 是非题 truefalse tf judge judgement",
    QuestionType.FILL_BLANK: "填空题 填空 fillblank fillintheblank blank fill",
    QuestionType.SHORT_ANSWER: "简答题 简答 问答题 问答 名词解释 shortanswer short",
    QuestionType.ESSAY: "论述题 论述 分析题 材料分析题 案例分析题 计算题 综合题 essay",
    QuestionType.NUMERICAL: "数值题 数值 numerical numeric number",
    QuestionType.DESCRIPTION: "说明 description",
}
TYPE_NAMES = {name: qtype for qtype, names in _TYPE_WORDS.items() for name in names.split()}
TYPE_LABELS = {qtype: names.split()[0] for qtype, names in _TYPE_WORDS.items()}
STEM_FORMATS = ("plain", "html", "markdown")
# types whose key only a 评分数据 cell (written by the exporter) can hold
GRADING_DATA_TYPES = {QuestionType.MATCHING, QuestionType.CLOZE}
DIFFICULTY_WORDS = {
    word: level
    for level, words in {
        1: "极易 易 容易 简单 easy",
        2: "较易 偏易",
        3: "中 中等 适中 一般 medium normal",
        4: "较难 偏难",
        5: "难 困难 极难 hard",
    }.items()
    for word in words.split()
}
BLANK_SEPARATORS = "|；;"
SYNONYM_SEPARATOR = "/"
_NAME_SEPARATORS = re.compile(r"[,，;；|\n]")
_LETTER_SEPARATORS = re.compile(r"[\s,，、;；|/]+")


def _type_key(text: str) -> str:
    return re.sub(r"[\s_\-/]+", "", unicodedata.normalize("NFKC", text).strip().lower())


_TYPE_BY_KEY = {_type_key(name): qtype for name, qtype in TYPE_NAMES.items()}
_TYPE_BY_KEY.update({_type_key(value): value for value in QuestionType.values})
_TYPE_BY_KEY.update({_type_key(label): value for value, label in QuestionType.choices})
ALLOWED_TYPE_TEXT = "单选题, 多选题, 判断题, 填空题, 简答题, 论述题, 分析题, 计算题, 数值题, 说明"


def parse_type(text: str) -> str | None:
    return _TYPE_BY_KEY.get(_type_key(text))


def parse_difficulty(text: str) -> int | None:
    """1–5 from a number or 易/中/难; None when it is neither (an empty cell is not asked)."""
    key = unicodedata.normalize("NFKC", text).strip().lower()
    if key in DIFFICULTY_WORDS:
        return DIFFICULTY_WORDS[key]
    try:
        number = Decimal(key)
    except InvalidOperation:
        return None
    if number == number.to_integral_value() and 1 <= number <= 5:
        return int(number)
    return None


def parse_decimal(text: str) -> Decimal | None:
    cleaned = unicodedata.normalize("NFKC", text).strip().removesuffix("分").strip()
    try:
        number = Decimal(cleaned)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def json_number(value: Decimal) -> int | float:
    """A score for answer_data (JSON): an int when whole, else a float rounded to cents."""
    value = Decimal(value).quantize(Decimal("0.01"))
    return int(value) if value == value.to_integral_value() else float(value)


def escape_answer(text: str) -> str:
    """One blank answer written so that `fill_blank_answers` reads it back whole."""
    return "".join("\\" + char if char in BLANK_SEPARATORS + SYNONYM_SEPARATOR + "\\" else char for char in text)


def fill_blank_answers(text: str) -> list[list[str]]:
    """`山西/山西省/晋|北京` -> [["山西", "山西省", "晋"], ["北京"]] (an empty blank stays, as []);
    a backslash makes the next character literal."""
    blanks: list[list[str]] = [[]]
    current: list[str] = []
    escaped = False

    def end_answer() -> None:
        answer = "".join(current).strip()
        if answer:
            blanks[-1].append(answer)
        current.clear()

    for char in text:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in BLANK_SEPARATORS:
            end_answer()
            blanks.append([])
        elif char == SYNONYM_SEPARATOR:
            end_answer()
        else:
            current.append(char)
    if escaped:
        current.append("\\")
    end_answer()
    return blanks


def fill_blank_data(blanks: list[list[str]], scores: list, *, order_free: bool, case_sensitive: bool) -> dict:
    """The fill_blank answer_data (see quizbank/importers/base.py)."""
    return {
        "blanks": [{"answers": answers, "score": score} for answers, score in zip(blanks, scores, strict=True)],
        "order_free": order_free,
        "case_sensitive": case_sensitive,
    }


def short_answer_data(answers: list[str], *, case_sensitive: bool) -> dict:
    return {
        "answers": [{"text": text, "fraction": 1.0, "feedback": ""} for text in answers],
        "case_sensitive": case_sensitive,
    }


def essay_data() -> dict:
    return {"rubric": [], "grading_instructions": ""}


def true_false_data() -> dict:
    return {"feedback_true": "", "feedback_false": ""}


def split_names(text: str) -> list[str]:
    return list(dict.fromkeys(part.strip() for part in _NAME_SEPARATORS.split(text) if part.strip()))


_NUMERIC_RANGE = re.compile(r"^\s*(-?[\d.]+(?:e-?\d+)?)\s*\.\.\s*(-?[\d.]+(?:e-?\d+)?)\s*$", re.I)
_NUMERIC_TOLERANCE = re.compile(r"^\s*(-?[\d.]+(?:e-?\d+)?)\s*(?:±|\+-|\+/-)\s*([\d.]+(?:e-?\d+)?)\s*$", re.I)


def numerical_data(text: str) -> dict | None:
    """`3.14`, `3.14±0.01` or `1..5` -> numerical answer_data; None when it is none of them."""
    text = unicodedata.normalize("NFKC", text)
    try:
        if match := _NUMERIC_RANGE.match(text):
            low, high = float(match.group(1)), float(match.group(2))
            return {"answers": [{"min": low, "max": high, "fraction": 1.0}]}
        if match := _NUMERIC_TOLERANCE.match(text):
            value, tolerance = float(match.group(1)), float(match.group(2))
        else:
            value, tolerance = float(text.strip()), 0.0
    except ValueError:
        return None
    return {"answers": [{"value": value, "tolerance": tolerance, "fraction": 1.0, "feedback": ""}]}


def format_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def numerical_answer(answer_data: dict) -> str:
    """A numerical question's readable key: its first value, or `min..max`."""
    first = answer_data["answers"][0]
    if "min" in first:
        return f"{format_number(first['min'])}..{format_number(first['max'])}"
    return format_number(first["value"])


def numerical_text(answer_data: dict, fallback: str) -> str:
    """The 答案 cell of a numerical question (its first answer)."""
    answers = answer_data.get("answers") or []
    if not answers:
        return fallback
    first = answers[0]
    if "min" in first:
        return f"{format_number(first['min'])}..{format_number(first['max'])}"
    if first.get("tolerance"):
        return f"{format_number(first['value'])}±{format_number(first['tolerance'])}"
    return format_number(first["value"])


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
        return RowError(file_name, row_number, problem.header or columns.name(problem.field_name), problem.message)
    errors = record.validate()
    if errors:
        error = errors[0]
        return RowError(file_name, row_number, columns.name(error.field), error.message)
    return record


def _build_record(row: dict, columns: Columns, *, file_name: str, row_number: int, subject: str) -> QuestionRecord:
    def value(field_name: str) -> str:
        for header in columns.fields.get(field_name, ()):
            text = cell_text(row.get(header))
            if text:
                return text
        return ""

    stem = value("stem")
    if not stem:
        raise _RowProblem("stem", "the question text is empty")
    options = _options(row, columns)
    answer_text = value("answer")
    type_text = value("type")
    if type_text:
        qtype = parse_type(type_text)
        if qtype is None:
            raise _RowProblem("type", f"{type_text!r} is not a question type; use one of {ALLOWED_TYPE_TEXT}")
        if qtype in GRADING_DATA_TYPES and not value("grading_data"):
            raise _RowProblem(
                "type",
                f"a {type_text} question cannot be written in one row; import it as Moodle XML, GIFT or QTI instead",
            )
    else:
        qtype = _infer_type(options, answer_text)

    score_text = value("score")
    score = parse_decimal(score_text) if score_text else None
    if score_text and score is None:
        raise _RowProblem("score", f"{score_text!r} is not a number")
    partial_text = value("partial_score")
    partial = parse_decimal(partial_text) if partial_text else None
    if partial_text and partial is None:
        raise _RowProblem("partial_score", f"{partial_text!r} is not a number")
    difficulty_text = value("difficulty")
    difficulty = parse_difficulty(difficulty_text) if difficulty_text else None
    if difficulty_text and difficulty is None:
        raise _RowProblem(
            "difficulty", f"{difficulty_text!r} is not a difficulty: use 1–5 or 易/中/难 (easy/medium/hard)"
        )

    def flag(field_name: str, default: bool) -> bool:
        text = value(field_name)
        if not text:
            return default
        parsed = parse_bool(text)
        if parsed is None:
            raise _RowProblem(field_name, f"{text!r} is not 是/否 (yes/no)")
        return parsed

    case_sensitive = flag("case_sensitive", True)
    if value("case_insensitive"):
        case_sensitive = not flag("case_insensitive", False)

    record = QuestionRecord(
        subject=value("subject") or subject,
        qtype=qtype,
        stem=stem,
        explanation=value("explanation"),
        score=score if score is not None else Decimal(1),
        partial_score=partial,
        difficulty=difficulty,
        tags=_names(row, columns, "tags"),
        knowledge_points=_names(row, columns, "knowledge_points"),
        source_file=file_name,
        source_row=row_number,
        source_dataset=value("source"),
    )
    if qtype in (QuestionType.SINGLE_CHOICE, QuestionType.MULTIPLE_CHOICE):
        record.options = options
        record.answer = _choice_answer(answer_text, options, qtype, columns.name("options"))
    elif qtype == QuestionType.TRUE_FALSE:
        record.answer = _true_false_answer(answer_text, options)
        record.answer_data = true_false_data()
    elif qtype == QuestionType.FILL_BLANK:
        _fill_blank(
            record,
            answer_text,
            value("blank_scores"),
            score,
            columns,
            order_free=flag("order_free", False),
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
    if grading := value("grading_data"):
        _apply_grading_data(record, grading)
    return record


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
    letters = _LETTER_SEPARATORS.sub("", unicodedata.normalize("NFKC", answer).upper())
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
    letters = _LETTER_SEPARATORS.sub("", unicodedata.normalize("NFKC", text).upper())
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


# --- the downloadable template --------------------------------------------------------------------

_TEMPLATE = {
    "zh": {
        "sheet": "题目",
        "help_sheet": "说明",
        "headers": ZH_HEADERS,
        "examples": [
            {
                "题目": "1 + 1 = ?",
                "类型": "单选题",
                "答案": "B",
                "解析": "1 加 1 等于 2。",
                "选项A": "1",
                "选项B": "2",
                "选项C": "3",
                "选项D": "4",
                "分值": 2,
                "难度": "易",
                "知识点": "加法",
                "标签": "计算",
            },
            {
                "题目": "中国的首都是_____，最大的城市是_____。",
                "类型": "填空题",
                "答案": "北京|上海",
                "解析": "北京是首都，上海人口最多。",
                "分值": 2,
                "难度": "中",
                "知识点": "地理常识",
                "答案无顺序": "否",
                "区分大小写": "是",
            },
        ],
        "help_header": ["列名", "必填", "说明", "示例"],
        "help": [
            ("题目", "是", "题干，可以换行", "1 + 1 = ?"),
            ("类型", "是", "见下方“类型取值”；留空时按选项和答案推断", "单选题"),
            (
                "答案",
                "是",
                "选择题写选项字母（多选如 ACD）；判断题写 对/错；填空题每空之间用 | 或 ；分隔，"
                "同一空的备选答案用 / 分隔（如 山西/山西省|北京）；简答、论述写参考答案",
                "B",
            ),
            ("解析", "否", "答案解析", "1 加 1 等于 2。"),
            ("选项A…选项F", "选择题必填", "从 A 起连续填写；需要更多时可加 选项G、选项H…", "2"),
            ("分值", "否", "默认 1 分", "2"),
            ("漏选分", "否", "多选题选对但不全时的得分", "1"),
            ("难度", "否", "1–5，或 易/中/难（= 1/3/5），较易 = 2，较难 = 4", "易"),
            ("知识点", "否", "多个用 ， 或 ； 分隔", "加法"),
            ("标签", "否", "多个用 ， 或 ； 分隔", "计算"),
            ("科目", "否", "如 数学/函数；留空则用导入时选择的科目", "数学"),
            ("出处", "否", "试题来源", "2023 期中考试"),
            ("答案无顺序", "否", "填空题：是 = 各空答案可以互换位置（默认 否）", "否"),
            ("区分大小写", "否", "填空题、简答题：否 = 不区分大小写（默认 是）", "是"),
            ("每空分值", "否", "填空题每空的分数，用 | 分隔；不填则总分平均分给各空", "1|1"),
        ],
        "types_title": ("类型取值", "", "含义", ""),
        "types": [
            ("单选题", "", "一个正确选项", ""),
            ("多选题", "", "多个正确选项，可设漏选分", ""),
            ("判断题", "", "答案 对/错（√/×）", ""),
            ("填空题", "", "题干中用 _____ 表示空", ""),
            ("简答题", "", "问答题，人工或模型阅卷", ""),
            ("论述题", "", "论述作答，人工或模型阅卷", ""),
            ("分析题", "", "材料或案例分析，按论述题阅卷", ""),
            ("计算题", "", "写出计算过程，按论述题阅卷；只要数字结果时用数值题", ""),
            ("数值题", "", "答案为数字，如 3.14、3.14±0.01 或 1..5", ""),
            ("说明", "", "不计分的说明文字", ""),
        ],
    },
    "en": {
        "sheet": "questions",
        "help_sheet": "help",
        "headers": EN_HEADERS,
        "examples": [
            {
                "stem": "What is 1 + 1?",
                "type": "single",
                "answer": "B",
                "explanation": "One plus one is two.",
                "option_a": "1",
                "option_b": "2",
                "option_c": "3",
                "option_d": "4",
                "score": 2,
                "difficulty": "easy",
                "knowledge_points": "addition",
                "tags": "arithmetic",
            },
            {
                "stem": "The sun rises in the east.",
                "type": "true_false",
                "answer": "true",
                "explanation": "The Earth turns eastwards.",
                "score": 1,
                "difficulty": 1,
                "knowledge_points": "astronomy",
            },
        ],
        "help_header": ["column", "required", "meaning", "example"],
        "help": [
            ("stem", "yes", "the question text; may span lines", "What is 1 + 1?"),
            ("type", "yes", "see 'type values' below; inferred from options and answer when empty", "single"),
            (
                "answer",
                "yes",
                "choice: option letters (ACD for multiple); true_false: true/false; fill_blank: one "
                "answer per blank separated by |, alternatives by / (Paris/paris|Rome); short_answer "
                "and essay: the reference answer",
                "B",
            ),
            ("explanation", "no", "why the answer is right", "One plus one is two."),
            ("option_a…option_f", "for choices", "filled from A on; add option_g, option_h… for more", "2"),
            ("score", "no", "default 1", "2"),
            ("partial_score", "no", "multiple choice: the score for a correct but incomplete answer", "1"),
            ("difficulty", "no", "1–5, or easy/medium/hard (= 1/3/5)", "easy"),
            ("knowledge_points", "no", "several separated by , or ;", "addition"),
            ("tags", "no", "several separated by , or ;", "arithmetic"),
            ("subject", "no", "e.g. Maths/Functions; empty: the subject chosen at import", "Maths"),
            ("source", "no", "where the question comes from", "2023 midterm"),
            ("order_free", "no", "fill_blank: yes = the blanks' answers may come in any order (default no)", "no"),
            ("case_sensitive", "no", "fill_blank, short_answer: no = ignore upper/lower case (default yes)", "yes"),
            (
                "blank_scores",
                "no",
                "fill_blank: each blank's score separated by |; default: the score split evenly",
                "1|1",
            ),
        ],
        "types_title": ("type values", "", "meaning", ""),
        "types": [
            ("single", "", "one correct option", ""),
            ("multiple", "", "several correct options", ""),
            ("true_false", "", "answer true/false", ""),
            ("fill_blank", "", "blanks written _____ in the stem", ""),
            ("short_answer", "", "graded by a teacher or the model", ""),
            ("essay", "", "longer answers, graded by a teacher or the model", ""),
            ("numerical", "", "a number: 3.14, 3.14±0.01 or 1..5", ""),
            ("description", "", "text, not scored", ""),
        ],
    },
}


def build_template(language: str) -> bytes:
    """An .xlsx template: the header and two example rows, and a sheet explaining each column."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font
    from openpyxl.worksheet.datavalidation import DataValidation

    spec = _TEMPLATE["en" if language == "en" else "zh"]
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = spec["sheet"]
    headers = spec["headers"]
    sheet.append(headers)
    for example in spec["examples"]:
        sheet.append([example.get(header, "") for header in headers])
    bold = Font(bold=True)
    for cell in sheet[1]:
        cell.font = bold
    sheet.freeze_panes = "A2"
    sheet.column_dimensions["A"].width = 40
    sheet.column_dimensions["D"].width = 30
    type_names = [row[0] for row in spec["types"]]
    choices = DataValidation(type="list", formula1='"' + ",".join(type_names) + '"', allow_blank=True)
    choices.error = ALLOWED_TYPE_TEXT
    sheet.add_data_validation(choices)
    choices.add("B2:B10000")

    help_sheet = workbook.create_sheet(spec["help_sheet"])
    help_sheet.append(spec["help_header"])
    for row in spec["help"]:
        help_sheet.append(list(row))
    help_sheet.append([])
    help_sheet.append(list(spec["types_title"]))
    title_row = help_sheet.max_row
    for row in spec["types"]:
        help_sheet.append(list(row))
    for cell in [*help_sheet[1], *help_sheet[title_row]]:
        cell.font = bold
    for column, width in zip("ABCD", (18, 10, 70, 24), strict=True):
        help_sheet.column_dimensions[column].width = width
    for row in help_sheet.iter_rows(min_row=2):
        row[2].alignment = Alignment(wrap_text=True, vertical="top")

    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
