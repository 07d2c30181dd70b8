"""Moodle's "missing word" format: one answer block in braces inside a sentence.

    As soon as we begin to explore our body parts as infants
    we become students of {=anatomy and physiology ~reflexology
    ~science ~experiment}, and in a sense we remain students for life.

Paragraphs are separated by blank lines and their lines joined with spaces; the block
becomes `_____` in the stem. One answer makes a short-answer question, several a single
choice: `=` marks the right one, `~75%text` weights a partly right one, `#` starts the
feedback, a leading `_` protects an answer that starts with digits. There are no comments,
titles, categories or escapes (Moodle's importer has none).

GIFT reads these files the same way, and a file cannot be told apart from GIFT by its
content, so this format is never sniffed: choose it with `--format missingword`.
"""

from __future__ import annotations

from quizbank.importers.base import ImportSource, ParseStream, QuestionRecord, RowError
from quizbank.importers.gift import GAP, GiftSyntaxError, Paragraph, paragraphs
from quizbank.importers.registry import Format
from quizbank.models import QuestionType

_WEIGHT_CHARS = "1234567890%"


def sniff(head: str, file_name: str) -> bool:
    return False


def parse(source: ImportSource) -> ParseStream:
    subject = source.subject
    for paragraph in paragraphs(source.text(), comments=False, escapes=False):
        try:
            yield read_question(paragraph, subject=subject, file_name=source.file_name)
        except GiftSyntaxError as exc:
            yield RowError(source.file_name, paragraph.start, exc.field, exc.message)


def read_question(paragraph: Paragraph, *, subject: str, file_name: str) -> QuestionRecord:
    text = paragraph.joined(" ")
    opening, closing = text.find("{"), text.find("}")
    if opening < 0:
        raise GiftSyntaxError("answer", "no '{': put the answers in braces where the missing word goes")
    if closing < 0:
        raise GiftSyntaxError("answer", f"unclosed brace: '{{' on line {paragraph.line_of(opening)} is never closed")
    if closing < opening:
        raise GiftSyntaxError("answer", f"'}}' on line {paragraph.line_of(closing)} comes before any '{{'")
    record = QuestionRecord(
        subject=subject,
        qtype=QuestionType.SHORT_ANSWER,
        stem=text[:opening] + GAP + text[closing + 1 :],
        source_file=file_name,
        source_row=paragraph.start,
    )
    parts = text[opening + 1 : closing].replace("=", "~=").split("~")
    if not parts[0].strip():
        parts = parts[1:]
    if not parts:
        raise GiftSyntaxError("answer", f"no answers between the braces on line {paragraph.line_of(opening)}")
    if len(parts) == 1:
        answer = parts[0].strip().removeprefix("=")
        record.answer = answer
        record.answer_data = {"answers": [{"text": answer, "fraction": 1.0, "feedback": ""}], "case_sensitive": False}
        return record
    record.qtype = QuestionType.SINGLE_CHOICE
    for index, part in enumerate(parts):
        if index >= 26:
            raise GiftSyntaxError("options", "a choice question can have at most 26 options (A-Z)")
        record.options.append({"key": chr(ord("A") + index), **_option(part.strip())})
    right = [option for option in record.options if option["fraction"] == 1]
    partly = sorted((option for option in record.options if option["fraction"] > 0), key=lambda o: -o["fraction"])
    if not (right or partly):
        raise GiftSyntaxError("answer", f"no right answer on line {paragraph.line_of(opening)}: mark it with '='")
    record.answer = (right or partly)[0]["key"]
    return record


def _option(answer: str) -> dict:
    """One choice as Moodle reads it: `75%text`, `=text`, `_1984`, `text#feedback`."""
    fraction = 0.0
    span = len(answer) - len(answer.lstrip(_WEIGHT_CHARS))
    if span and answer.find("%") == span - 1:
        fraction = round(int(answer[: span - 1] or 0) / 100, 2)
        answer = answer[span:]
    if answer.startswith("="):
        fraction = 1.0
    elif answer.startswith("_"):
        answer = answer[1:]
    answer = answer.strip()
    feedback = ""
    if answer.find("#") > 0:
        answer, feedback = answer.split("#", 1)
    return {"text": answer.removeprefix("=").strip(), "fraction": fraction, "feedback": feedback.strip()}


FORMAT = Format(
    name="missingword", label="Moodle missing word", extensions=(".txt",), parse=parse, sniff=sniff, rows_are_lines=True
)
