"""GIFT, Moodle's plain-text question format (the rules of Moodle's own importer).

Questions are paragraphs separated by blank lines; `//` lines are comments (`[tag:x]` in
them becomes a tag); `$CATEGORY: a/b` sets the subject of the questions after it. A question
is `::title::[format]stem{answers}`; the answer block decides the type:

    (no braces) description      {} essay             {#3.14:0.01} {#1..5} numerical
    {=a ~b ~c} single choice     {~%50%a ~%-100%b ~%50%c} multiple choice (no `=`)
    {=x -> 1 =y -> 2 = -> 3} matching (empty left side: a distractor)
    {T} {FALSE#wrong#right} true/false      {=a =%50%b} short answer

`#` starts an answer's feedback, `####` the general feedback; `%n%` weights an answer; text
after the closing brace makes the block a gap (`_____`) in the stem. `\\: \\# \\= \\{ \\} \\~ \\n \\\\`
are escapes. Titles are not kept (the bank has no field for them).
"""

from __future__ import annotations

import html
import re
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal

from quizbank.importers.base import ImportSource, ParseStream, QuestionRecord, RowError
from quizbank.importers.registry import Format
from quizbank.models import QuestionType

GAP = "_____"
TRUE_FALSE_WORDS = {"T": True, "TRUE": True, "F": False, "FALSE": False}
# Moodle's names for text formats; "moodle" (its auto-format, the default) is plain text here.
TEXT_FORMATS = ("html", "markdown", "plain", "moodle")

# An escaped character stands in as a private-use character while the question is taken apart.
_ESCAPABLE = "\\:#={}~n"
_PLACEHOLDERS = {char: chr(0xE000 + index) for index, char in enumerate(_ESCAPABLE)}
_RESTORE = str.maketrans({held: ("\n" if char == "n" else char) for char, held in _PLACEHOLDERS.items()})
_ESCAPE = re.compile(r"\\([\\:#={}~n])")
_WEIGHT = re.compile(r"^%(-?\d+(?:\.\d*)?)%")
_FORMAT_MARKER = re.compile(r"^\[(html|markdown|plain|moodle)\]")
_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")
_INTEGER = re.compile(r"^[+-]?\d+$")
_TAG = re.compile(r"\[tag:\s*([^\]]+?)\s*\]")
_CONTEXT = re.compile(r"^\$\w+\$$")
_PATH_SEPARATOR = re.compile(r"(?<!/)/(?!/)")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


class GiftSyntaxError(Exception):
    """A question that cannot be read; becomes a RowError on the question's first line."""

    def __init__(self, field_name: str, message: str):
        self.field = field_name
        self.message = message
        super().__init__(message)


# --- text helpers ---------------------------------------------------------------------------


def protect(text: str) -> str:
    """Replace escapes (`\\{`...) with placeholders so they are not read as syntax."""
    return _ESCAPE.sub(lambda match: _PLACEHOLDERS[match.group(1)], text)


def restore(text: str) -> str:
    """Turn placeholders back into the characters they stand for."""
    return text.translate(_RESTORE)


def escape(text: str) -> str:
    """Text written so that GIFT reads it back unchanged (newlines become `\\n`)."""
    text = text.replace("\\", "\\\\")
    for char in ":#={}~":
        text = text.replace(char, "\\" + char)
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\\n")


def split_format(text: str, default: str) -> tuple[str, str]:
    """(format, text) of a protected part: a leading [html]/[markdown]/[plain]/[moodle] sets the format."""
    text = text.strip()
    marker = _FORMAT_MARKER.match(text)
    if marker:
        return marker.group(1), restore(text[marker.end() :]).strip()
    return default, restore(text).strip()


def stem_format_of(gift_format: str) -> str:
    return gift_format if gift_format in ("html", "markdown") else "plain"


def parse_weight(text: str) -> tuple[float | None, str]:
    """A leading `%50%` as a fraction (0.5), and the text after it; None when there is none."""
    match = _WEIGHT.match(text)
    if not match:
        return None, text
    return float(Decimal(match.group(1)) / 100), text[match.end() :]


def number(text: str, *, line: int) -> int | float:
    text = text.strip()
    if not _NUMBER.match(text):
        raise GiftSyntaxError("answer", f"{text!r} on line {line} is not a number")
    return int(text) if _INTEGER.match(text) else float(text)


def format_number(value: int | float) -> str:
    """3 → "3", 3.0 → "3.0", 0.1 → "0.1": the text that reads back as the same value."""
    return repr(value) if isinstance(value, float) else str(value)


# --- paragraphs -----------------------------------------------------------------------------


@dataclass
class Paragraph:
    """The lines of one blank-line separated block (stripped, comment lines left out)."""

    lines: list[str] = field(default_factory=list)
    numbers: list[int] = field(default_factory=list)  # 1-based file line of each line
    comments: list[str] = field(default_factory=list)

    @property
    def start(self) -> int:
        return self.numbers[0]

    def tail(self) -> Paragraph:
        return Paragraph(self.lines[1:], self.numbers[1:], self.comments)

    def joined(self, separator: str = "\n") -> str:
        """The lines joined by a one-character separator (offsets map back with line_of)."""
        return separator.join(self.lines)

    def line_of(self, offset: int) -> int:
        starts, position = [], 0
        for line in self.lines:
            starts.append(position)
            position += len(line) + 1
        return self.numbers[max(bisect_right(starts, offset) - 1, 0)]


def paragraphs(text: str, *, comments: bool = True, escapes: bool = True) -> Iterator[Paragraph]:
    """Blank-line separated paragraphs; with `comments`, `//` lines are set aside; with
    `escapes`, escaped characters are protected."""
    current = Paragraph()
    # Only real line breaks count, so line numbers match the reader's editor.
    for number_, raw in enumerate(_LINE_BREAK.split(text), start=1):
        line = raw.strip()
        if not line:
            if current.lines:
                yield current
            current = Paragraph()
        elif comments and line.startswith("//"):
            current.comments.append(line)
        else:
            current.lines.append(protect(line) if escapes else line)
            current.numbers.append(number_)
    if current.lines:
        yield current


def category_path(raw: str) -> str:
    """`$course$/top/Algebra/Linear` → `Algebra/Linear`: Moodle's context prefix is dropped, and
    a "/" inside a name (written "//") becomes "／" so it does not start a new level."""
    parts = [part.replace("//", "/").strip() for part in _PATH_SEPARATOR.split(restore(raw).strip())]
    parts = [part for part in parts if part]
    while parts and _CONTEXT.match(parts[0]):
        parts.pop(0)
    if parts and parts[0] == "top":
        parts.pop(0)
    return "/".join(part.replace("/", "／") for part in parts)


def answer_parts(text: str, markers: str, offset: int) -> list[tuple[int, str]]:
    """Split an answer block before each marker character, as (offset in the question, part)."""
    parts, start = [], 0
    for index in range(1, len(text) + 1):
        if index == len(text) or text[index] in markers:
            parts.append((offset + start, text[start:index]))
            start = index
    if parts and not parts[0][1].strip():
        parts = parts[1:]
    return [(position + len(part) - len(part.lstrip()), part.strip()) for position, part in parts]


# --- the format -----------------------------------------------------------------------------

_TITLE_LINE = re.compile(r"^[ \t]*::.*?::", re.MULTILINE)
_CATEGORY_LINE = re.compile(r"^[ \t]*\$CATEGORY:", re.MULTILINE)
_BLOCK = re.compile(r"(?<!\\)\{([^{}]*?)(?<!\\)\}", re.DOTALL)
_GIFT_ANSWERS = re.compile(r"^\s*(?:#|(?:T|TRUE|F|FALSE)\s*(?:#|$))|(?:^|\s)[=~]")
_AIKEN_ANSWER = re.compile(r"^ANSWER:\s*\S", re.MULTILINE)
# A line of bracket groups only, like `[AB][3分][1分]`: the pasted-text format's answer key.
_PASTED_KEY = re.compile(r"^[ \t]*(?!\[(?:html|markdown|plain|moodle)\])(?:\[[^\]\n]*\][ \t]*)+$", re.MULTILINE)


def sniff(head: str, file_name: str) -> bool:
    """GIFT by its own marks: `::title::`, `$CATEGORY:`, or `{...}` blocks with `=`/`~`/`#`/T/F."""
    stripped = head.lstrip()
    if stripped.startswith(("{", "<?xml", "<quiz")):
        return False
    body = "\n".join(line for line in head.splitlines() if not line.strip().startswith("//"))
    if _CATEGORY_LINE.search(body) or _TITLE_LINE.search(body):
        return True
    # Aiken (`ANSWER: B`) and pasted text (`[B]` key lines) may have braces in their text.
    if _AIKEN_ANSWER.search(body) or _PASTED_KEY.search(body):
        return False
    return any(_GIFT_ANSWERS.search(match.group(1).split("####")[0]) for match in _BLOCK.finditer(body))


def parse(source: ImportSource) -> ParseStream:
    yield from parse_text(source.text(), file_name=source.file_name, subject=source.subject)


def parse_text(text: str, *, file_name: str, subject: str = "") -> ParseStream:
    default_subject = subject
    for paragraph in paragraphs(text):
        if paragraph.lines[0].startswith("$CATEGORY:"):
            subject = category_path(paragraph.lines[0][len("$CATEGORY:") :]) or default_subject
            paragraph = paragraph.tail()
            if not paragraph.lines:
                continue
        try:
            yield read_question(paragraph, subject=subject, file_name=file_name)
        except GiftSyntaxError as exc:
            yield RowError(file_name, paragraph.start, exc.field, exc.message)


def read_question(paragraph: Paragraph, *, subject: str, file_name: str) -> QuestionRecord:
    text = paragraph.joined("\n")
    line_of = paragraph.line_of
    position = 0
    if text.startswith("::"):
        title_end = text.find("::", 2)
        if title_end < 0:
            raise GiftSyntaxError(
                "title", f"the title opened with '::' on line {paragraph.start} is not closed with '::'"
            )
        position = title_end + 2
    opening, closing = text.find("{", position), text.find("}", position)
    answer_text: str | None = None
    if opening < 0 and closing < 0:
        stem_text = text[position:]
    elif closing >= 0 and (opening < 0 or closing < opening):
        raise GiftSyntaxError(
            "answer", f"'}}' on line {line_of(closing)} has no opening '{{' (write a literal brace as \\}})"
        )
    elif closing < 0:
        raise GiftSyntaxError("answer", f"unclosed brace: '{{' on line {line_of(opening)} is never closed with '}}'")
    else:
        nested = text.find("{", opening + 1, closing)
        if nested >= 0:
            raise GiftSyntaxError(
                "answer",
                f"unclosed brace: '{{' on line {line_of(opening)} is followed by another '{{' on line "
                f"{line_of(nested)} before any '}}'",
            )
        after = text[closing + 1 :]
        extra = min((index for index in (after.find("{"), after.find("}")) if index >= 0), default=-1)
        if extra >= 0:
            raise GiftSyntaxError(
                "answer",
                f"a second answer block on line {line_of(closing + 1 + extra)}: a GIFT question has one "
                f"(write literal braces as \\{{ and \\}})",
            )
        raw_answers = text[opening + 1 : closing]
        answer_text = raw_answers.strip()
        answer_offset = opening + 1 + len(raw_answers) - len(raw_answers.lstrip())
        # Text after the block makes it a gap in the sentence (Moodle's missing-word form).
        stem_text = text[position:opening] + (GAP + after if after.strip() else "")

    general_feedback = ""
    if answer_text is not None and "####" in answer_text:
        separator = answer_text.rfind("####")
        general_feedback = answer_text[separator + 4 :]
        answer_text = answer_text[:separator].strip()
    gift_format, stem = split_format(stem_text, "moodle")
    _, general_feedback = split_format(general_feedback, gift_format)
    record = QuestionRecord(
        subject=subject,
        qtype=QuestionType.DESCRIPTION,
        stem=stem,
        stem_format=stem_format_of(gift_format),
        general_feedback=general_feedback,
        explanation=general_feedback,
        tags=list(dict.fromkeys(tag for comment in paragraph.comments for tag in _TAG.findall(comment))),
        source_file=file_name,
        source_row=paragraph.start,
    )
    if answer_text is None:
        record.score = Decimal(0)
    elif answer_text == "":
        record.qtype = QuestionType.ESSAY
    elif answer_text.startswith("#"):
        _numerical(record, answer_text, answer_offset, paragraph, gift_format)
    elif "~" in answer_text:
        _choice(record, answer_text, answer_offset, gift_format)
    elif "=" in answer_text and "->" in answer_text:
        _matching(record, answer_text, answer_offset, paragraph, gift_format)
    elif answer_text.split("#", 1)[0].strip() in TRUE_FALSE_WORDS:
        _true_false(record, answer_text, gift_format)
    else:
        _short_answer(record, answer_text, answer_offset, paragraph, gift_format)
    return record


def _part(text: str, question_format: str) -> str:
    """A sub-text (option, feedback) in the question's format: plain text inside HTML is escaped."""
    part_format, part = split_format(text, question_format)
    if question_format == "html" and part_format == "plain":
        return html.escape(part, quote=False)
    return part


def _answer_and_feedback(text: str, question_format: str) -> tuple[str, str]:
    bits = text.split("#", 1)
    return _part(bits[0], question_format), _part(bits[1], question_format) if len(bits) > 1 else ""


def _choice(record: QuestionRecord, answer_text: str, offset: int, gift_format: str) -> None:
    options, correct = [], None
    for index, (_, part) in enumerate(answer_parts(answer_text, "~=", offset)):
        if index >= 26:
            raise GiftSyntaxError("options", "a choice question can have at most 26 options (A-Z)")
        key = chr(ord("A") + index)
        if part.startswith("="):
            fraction, body = 1.0, part[1:]
            correct = correct or key
        else:
            weight, body = parse_weight(part.removeprefix("~").strip())
            fraction = weight if weight is not None else 0.0
        text, feedback = _answer_and_feedback(body, gift_format)
        options.append({"key": key, "text": text, "fraction": fraction, "feedback": feedback})
    record.options = options
    if correct:
        record.qtype = QuestionType.SINGLE_CHOICE
        record.answer = correct
    else:
        # No `=`: several answers may be right, each with its own (possibly negative) weight.
        record.qtype = QuestionType.MULTIPLE_CHOICE
        record.answer = "".join(option["key"] for option in options if option["fraction"] > 0)


def _matching(record: QuestionRecord, answer_text: str, offset: int, paragraph: Paragraph, gift_format: str) -> None:
    pairs, distractors = [], []
    for position, part in answer_parts(answer_text, "=", offset):
        body = part.removeprefix("=")
        marker = body.find("->")
        line = paragraph.line_of(position)
        if marker < 0:
            raise GiftSyntaxError("answer", f"matching entry {restore(body)!r} on line {line} has no '->'")
        left = _part(body[:marker], gift_format)
        right = restore(body[marker + 2 :]).strip()
        if not right:
            raise GiftSyntaxError("answer", f"matching entry on line {line} has nothing after '->'")
        if left:
            pairs.append({"left": left, "right": right})
        else:
            distractors.append(right)
    record.qtype = QuestionType.MATCHING
    record.answer_data = {"pairs": pairs, "distractors": distractors}


def _true_false(record: QuestionRecord, answer_text: str, gift_format: str) -> None:
    bits = answer_text.split("#", 2)
    is_true = TRUE_FALSE_WORDS[bits[0].strip()]
    # Moodle's order: {ANSWER#feedback for the wrong response#feedback for the right response}.
    wrong = _part(bits[1], gift_format) if len(bits) > 1 else ""
    right = _part(bits[2], gift_format) if len(bits) > 2 else ""
    record.qtype = QuestionType.TRUE_FALSE
    record.answer = "true" if is_true else "false"
    record.answer_data = {
        "feedback_true": right if is_true else wrong,
        "feedback_false": wrong if is_true else right,
    }


def _short_answer(
    record: QuestionRecord, answer_text: str, offset: int, paragraph: Paragraph, gift_format: str
) -> None:
    answers = []
    for position, part in answer_parts(answer_text, "=", offset):
        weight, body = parse_weight(part.removeprefix("=").strip())
        text, feedback = _answer_and_feedback(body, gift_format)
        if not text:
            raise GiftSyntaxError("answer", f"an accepted answer on line {paragraph.line_of(position)} is empty")
        answers.append({"text": text, "fraction": 1.0 if weight is None else weight, "feedback": feedback})
    record.qtype = QuestionType.SHORT_ANSWER
    best = max(answers, key=lambda answer: answer["fraction"])
    record.answer = best["text"]
    record.answer_data = {"answers": answers, "case_sensitive": False}


def _numerical(record: QuestionRecord, answer_text: str, offset: int, paragraph: Paragraph, gift_format: str) -> None:
    body = answer_text[1:]
    wrong_feedback = ""
    tilde = body.find("~")
    if tilde >= 0:
        # `~#feedback` is the feedback for any other (wrong) number.
        _, wrong_feedback = _answer_and_feedback(body[tilde + 1 :], gift_format)
        body = body[:tilde]
    answers = []
    for position, part in answer_parts(body, "=", offset + 1):
        line = paragraph.line_of(position)
        weight, rest = parse_weight(part.removeprefix("=").strip())
        fraction = 1.0 if weight is None else weight
        value_text, feedback = _answer_and_feedback(rest, gift_format)
        if value_text == "*":
            if fraction:
                raise GiftSyntaxError("answer", f"'*' on line {line} matches any number; it can only carry %0%")
            wrong_feedback = wrong_feedback or feedback
            continue
        dots, colon = value_text.find(".."), value_text.find(":")
        if dots > 0:
            answer = {"min": number(value_text[:dots], line=line), "max": number(value_text[dots + 2 :], line=line)}
        elif colon > 0:
            answer = {
                "value": number(value_text[:colon], line=line),
                "tolerance": number(value_text[colon + 1 :], line=line),
            }
        else:
            answer = {"value": number(value_text, line=line), "tolerance": 0}
        answers.append({**answer, "fraction": fraction, "feedback": feedback})
    if not answers:
        raise GiftSyntaxError(
            "answer", f"the numerical block on line {paragraph.line_of(offset)} has no number (write {{#3.14:0.01}})"
        )
    record.qtype = QuestionType.NUMERICAL
    first = answers[0]
    record.answer = (
        format_number(first["value"])
        if "value" in first
        else f"{format_number(first['min'])}..{format_number(first['max'])}"
    )
    record.answer_data = {"answers": answers}
    if wrong_feedback:
        record.answer_data["wrong_feedback"] = wrong_feedback


FORMAT = Format(
    name="gift",
    label="Moodle GIFT",
    extensions=(".gift", ".gift.txt", ".txt"),
    parse=parse,
    sniff=sniff,
    rows_are_lines=True,
)
