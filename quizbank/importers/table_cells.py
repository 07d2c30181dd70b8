"""The cells of the one-row-per-question table (layout: quizbank/importers/table_rows.py): which
column holds which field, a cell's text, and the values written in cells (types, difficulties, scores,
blanks, numbers), both ways, for the importers, the xlsx exporter and the template."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from functools import lru_cache

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
LETTER_SEPARATORS = re.compile(r"[\s,，、;；|/]+")


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
