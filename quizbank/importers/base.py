"""The intermediate record every importer produces, its validation, and shared reading helpers.

`answer_data` by question type (what grading needs beyond the readable `answer`):
- single_choice / multiple_choice: nothing; options carry `fraction` (-1..1) and `feedback`.
  multiple_choice `answer` is the correct keys in order ("AC"); `partial_score` is the 漏选分.
- true_false: {"feedback_true": str, "feedback_false": str}; `answer` is "true" or "false".
- fill_blank: {"blanks": [{"answers": ["山西", "山西省", "晋"], "score": 2}], "order_free": bool,
  "case_sensitive": bool}; `answer` joins each blank's first answer with "；".
- numerical: {"answers": [{"value": 3.14, "tolerance": 0.01, "fraction": 1.0, "feedback": ""}
  or {"min": 1, "max": 5, "fraction": 1.0}]}; `answer` is the first value (or "min..max").
- matching: {"pairs": [{"left": str, "right": str}], "distractors": [str]}.
- short_answer: {"answers": [{"text": str, "fraction": 1.0, "feedback": ""}], "case_sensitive": bool};
  `answer` is the best answer.
- essay: {"rubric": [{"id": str, "criterion": str, "points": number}], "grading_instructions": str,
  "grading_examples": [{"response": str, "score": number}]}; `answer` is the reference answer (may be
  empty); grading_examples are the teacher's own sample answers, the model grader's only few-shot examples.
- cloze: {"subquestions": [{"type": "single_choice"|"short_answer"|"numerical", "weight": int,
  "options": [...], "answers": [...] }]}; `stem` holds {#1}, {#2} markers.
- description: nothing (text only, not scored).
"""

from __future__ import annotations

import codecs
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

from quizbank.models import QuestionType

QUESTION_TYPES = frozenset(QuestionType.values)
TRUE_WORDS = {"true", "t", "对", "正确", "√", "✓", "是", "yes", "y", "1"}
FALSE_WORDS = {"false", "f", "错", "错误", "×", "✗", "x", "否", "no", "n", "0"}


@dataclass(frozen=True)
class RowError:
    file: str
    row: int | None  # 1-based line, row or item number in the source file
    field: str
    message: str
    excerpt: str = ""  # a short quote of the row (quizbank/importers/excerpts.py)

    def __str__(self) -> str:
        where = self.file if self.row is None else f"{self.file}, item {self.row}"
        return f"{where}, field '{self.field}': {self.message}"

    def as_dict(self) -> dict:
        return {
            "source": self.file,
            "line": self.row,
            "field": self.field,
            "message": self.message,
            "excerpt": self.excerpt,
        }


class BankImportError(Exception):
    """Raised with every bad row of a file; nothing of that file is written."""

    def __init__(self, errors: list[RowError]):
        self.errors = errors
        super().__init__("\n".join(str(error) for error in errors))


def parse_bool(value) -> bool | None:
    """对/错/√/×/T/F/true/false/是/否 → bool; None when it is none of them."""
    text = str(value).strip().lower()
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    return None


UTF8_CHECK_CHUNK = 1024 * 1024


def _utf16_without_bom(raw: bytes) -> str | None:
    """UTF-16 without a BOM, told by its NUL bytes (every ASCII character has one): where they fall
    says the byte order. None when the sample has no NUL byte (text never has one)."""
    if b"\0" not in raw:
        return None
    return "utf-16-le" if raw[1::2].count(0) >= raw[0::2].count(0) else "utf-16-be"


def text_encoding(path: Path, *, file_name: str | None = None) -> str:
    """How a text file is encoded: a BOM's encoding, UTF-16 without BOM, UTF-8, else GB18030 (GBK).

    UTF-8 is checked over the whole file (in chunks), so a GBK file is never read as UTF-8 nor a
    UTF-8 file as GBK; a UTF-8 file that ends inside a character has been cut short and is refused.
    """
    name = file_name or path.name
    with path.open("rb") as handle:
        head = handle.read(UTF8_CHECK_CHUNK)
        if head.startswith(codecs.BOM_UTF8):
            return "utf-8-sig"
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return "utf-16"
        utf16 = _utf16_without_bom(head)
        if utf16:
            return utf16
        decoder = codecs.getincrementaldecoder("utf-8")()
        chunk, offset = head, 0
        try:
            while chunk:
                decoder.decode(chunk)
                offset += len(chunk)
                chunk = handle.read(UTF8_CHECK_CHUNK)
        except UnicodeDecodeError:
            return "gb18030"
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            raise BankImportError(
                [RowError(name, None, "(file)", f"ends inside a UTF-8 character at byte {offset}: it was cut short")]
            ) from exc
    return "utf-8"


def decode_text(raw: bytes, encoding: str, *, file_name: str) -> str:
    """Bytes as text in `encoding`; BankImportError naming the file when they are not, or hold NULs."""
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        if encoding.startswith("utf-16") and exc.start >= len(raw) - 3:
            message = f"ends inside a UTF-16 character at byte {exc.start}: it was cut short"
        else:
            message = f"is neither UTF-8, UTF-16 nor GBK text (bad byte at {exc.start})"
        raise BankImportError([RowError(file_name, None, "(file)", message)]) from exc
    if "\0" in text:
        raise BankImportError(
            [
                RowError(
                    file_name, None, "(file)", f"holds NUL bytes (at character {text.index(chr(0))}): not a text file"
                )
            ]
        )
    return text


def read_text(path: Path, *, file_name: str | None = None) -> str:
    """Decode a text file: UTF-8 (with or without BOM), UTF-16 (with or without BOM), else GB18030 (GBK)."""
    name = file_name or path.name
    return decode_text(path.read_bytes(), text_encoding(path, file_name=name), file_name=name)


def read_head(path: Path, size: int = 64 * 1024) -> str:
    """The start of a text file, decoded like read_text but without reading the whole file."""
    with path.open("rb") as handle:
        raw = handle.read(size)
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return raw[: len(raw) // 2 * 2].decode("utf-16", errors="ignore")
    utf16 = _utf16_without_bom(raw)
    if utf16:
        return raw[: len(raw) // 2 * 2].decode(utf16, errors="ignore")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if exc.start >= len(raw) - 3:  # a character cut at the end of the sample
            return raw[: exc.start].decode("utf-8-sig")
    return raw.decode("gb18030", errors="ignore")


@dataclass
class QuestionRecord:
    subject: str
    qtype: str
    stem: str
    answer: str = ""
    options: list[dict] = field(default_factory=list)
    answer_data: dict = field(default_factory=dict)
    explanation: str = ""
    general_feedback: str = ""
    stem_format: str = "plain"
    score: Decimal = Decimal(1)
    partial_score: Decimal | None = None
    difficulty: int | None = None
    tags: list[str] = field(default_factory=list)
    knowledge_points: list[str] = field(default_factory=list)
    source_file: str = ""
    source_row: int | None = None
    source_dataset: str = ""
    source_licence: str = ""
    source_subject_missing: bool = False  # the file named no subject: it went to the import's default
    # Files the source embeds, by the name its text refers to them by (Moodle's @@PLUGINFILE@@/<name>):
    # the import stores them as question images and points the text at them.
    source_files: dict[str, bytes] = field(default_factory=dict, repr=False)

    def validate(self) -> list[RowError]:
        errors: list[RowError] = []

        def bad(field_name: str, message: str) -> None:
            errors.append(RowError(self.source_file, self.source_row, field_name, message))

        if self.qtype not in QUESTION_TYPES:
            bad("type", f"unknown question type {self.qtype!r}; expected one of {', '.join(QuestionType.values)}")
            return errors
        if not self.stem.strip():
            bad("stem", "the question text is empty")
        if not self.subject.strip() or any(not part.strip() for part in self.subject.split("/")):
            bad("subject", f"{self.subject!r} is not a subject path like '数学/函数'")
        _validate_score(self, bad)
        validator = _TYPE_VALIDATORS.get(self.qtype)
        if validator:
            validator(self, bad)
        return errors


def _validate_score(record: QuestionRecord, bad) -> None:
    try:
        score = Decimal(str(record.score))
    except InvalidOperation:
        bad("score", f"{record.score!r} is not a number")
        return
    if not score.is_finite() or score < 0 or score > 1000:
        bad("score", f"{record.score} is outside 0..1000")
    if record.partial_score is not None:
        try:
            partial = Decimal(str(record.partial_score))
        except InvalidOperation:
            bad("partial_score", f"{record.partial_score!r} is not a number")
        else:
            if partial < 0 or partial > score:
                bad("partial_score", f"the partial score {partial} must be between 0 and the score {score}")
    if record.difficulty is not None and not (isinstance(record.difficulty, int) and 1 <= record.difficulty <= 5):
        bad("difficulty", f"{record.difficulty!r} is not an integer from 1 to 5")


def _validate_options(record: QuestionRecord, bad) -> list[str] | None:
    """The option letters, or None (after reporting) when the options themselves are wrong."""
    keys = [str(option.get("key", "")) for option in record.options]
    problem = None
    if len(record.options) < 2:
        problem = f"a choice question needs at least two options, found {len(record.options)}"
    elif len(set(keys)) != len(keys) or not all(keys):
        problem = f"option letters must be unique and present: {keys}"
    elif any(not str(option.get("text", "")).strip() for option in record.options):
        empty = [str(option.get("key")) for option in record.options if not str(option.get("text", "")).strip()]
        problem = f"option {', '.join(empty)} has no text"
    else:
        for option in record.options:
            fraction = option.get("fraction")
            if fraction is not None and not (isinstance(fraction, int | float) and -1 <= fraction <= 1):
                problem = f"option {option.get('key')}: weight {fraction!r} is outside -100%..100%"
    if problem:
        bad("options", problem)
        return None
    return keys


def _single(record: QuestionRecord, bad) -> None:
    keys = _validate_options(record, bad)
    if keys is not None and record.answer.strip() not in keys:
        bad("answer", f"the answer {record.answer!r} is not one of the options {', '.join(keys)}")


def _multiple(record: QuestionRecord, bad) -> None:
    keys = _validate_options(record, bad)
    chosen = list(record.answer.strip())
    if not chosen:
        bad("answer", "a multiple-choice question needs at least one correct option")
    elif keys is not None and any(key not in keys for key in chosen):
        bad("answer", f"the answer {record.answer!r} names options that do not exist ({', '.join(keys)})")


def _true_false(record: QuestionRecord, bad) -> None:
    if record.answer not in ("true", "false"):
        bad("answer", f"a true/false answer must be 对/错 (true/false), not {record.answer!r}")


def _fill_blank(record: QuestionRecord, bad) -> None:
    blanks = record.answer_data.get("blanks") or []
    if not blanks:
        bad("answer", "a fill-in-the-blank question needs an answer for each blank")
    for index, blank in enumerate(blanks, start=1):
        if not [answer for answer in blank.get("answers", []) if str(answer).strip()]:
            bad("answer", f"blank {index} has no answer")


def _numerical(record: QuestionRecord, bad) -> None:
    answers = record.answer_data.get("answers") or []
    if not answers:
        bad("answer", "a numerical question needs a numeric answer")
    for answer in answers:
        numbers = [answer[key] for key in ("value", "tolerance", "min", "max") if key in answer]
        if not all(isinstance(n, int | float) and math.isfinite(n) for n in numbers):
            bad("answer", f"{answer} is not numeric")
        elif "min" in answer and answer["min"] > answer["max"]:
            bad("answer", f"the range {answer['min']}..{answer['max']} is empty")
        elif answer.get("tolerance", 0) < 0:
            bad("answer", f"the tolerance {answer['tolerance']} is negative")
        elif "value" not in answer and "min" not in answer:
            bad("answer", f"{answer} has neither a value nor a range")


def _matching(record: QuestionRecord, bad) -> None:
    pairs = record.answer_data.get("pairs") or []
    if len(pairs) < 2:
        bad("answer", f"a matching question needs at least two pairs, found {len(pairs)}")
    elif any(not str(pair.get("left", "")).strip() or not str(pair.get("right", "")).strip() for pair in pairs):
        bad("answer", "every matching pair needs both sides")


def _short_answer(record: QuestionRecord, bad) -> None:
    answers = record.answer_data.get("answers") or []
    if not record.answer.strip() and not answers:
        bad("answer", "a short-answer question needs at least one accepted answer")


def _cloze(record: QuestionRecord, bad) -> None:
    if not record.answer_data.get("subquestions"):
        bad("stem", "a cloze question needs at least one embedded answer like {1:SHORTANSWER:=...}")


_TYPE_VALIDATORS = {
    QuestionType.SINGLE_CHOICE: _single,
    QuestionType.MULTIPLE_CHOICE: _multiple,
    QuestionType.TRUE_FALSE: _true_false,
    QuestionType.FILL_BLANK: _fill_blank,
    QuestionType.NUMERICAL: _numerical,
    QuestionType.MATCHING: _matching,
    QuestionType.SHORT_ANSWER: _short_answer,
    QuestionType.CLOZE: _cloze,
}


@dataclass(frozen=True)
class ImportSource:
    """One file to import: the path on disk, the name to report, the default subject."""

    path: Path
    file_name: str
    subject: str = ""

    def text(self) -> str:
        return read_text(self.path, file_name=self.file_name)

    def json(self) -> tuple[object, RowError | None]:
        """The whole file as JSON, or the error saying where it breaks."""
        try:
            return json.loads(self.text()), None
        except json.JSONDecodeError as exc:
            message = f"invalid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
            return None, RowError(self.file_name, exc.lineno, "(json)", message)


# What a format's parse() yields: records, or errors for rows it could not read at all.
ParseItem = QuestionRecord | RowError
ParseStream = Iterator[ParseItem]
