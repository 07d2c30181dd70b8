"""Moodle's Aiken format: a question is its text, then one option per line (`A. ` or `A) `,
a space after the mark), then `ANSWER: B`.

    The Moodle project was started by:
    A) Petr Skoda
    B) Martin Dougiamas
    ANSWER: B

`ANSWER: AC` (or `A, C`) makes a multiple-choice question. A question that cannot be read gives
exactly one error, at its first line, and the reader goes on with the next question.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from quizbank.importers.base import ImportSource, ParseStream, QuestionRecord, RowError
from quizbank.importers.registry import Format
from quizbank.models import QuestionType

OPTION = re.compile(r"^([A-Z])[.)][ \t]+(\S.*)$")
OPTION_WITHOUT_SPACE = re.compile(r"^([A-Z])[.)](\S.*)$")
ANSWER = re.compile(r"^ANSWER\s*:\s*(.*)$")
_ANSWER_LETTERS = re.compile(r"^[A-Z](?:[\s,;]*[A-Z])*$")


def sniff(head: str, file_name: str) -> bool:
    return bool(re.search(r"^ANSWER\s*:\s*[A-Z]", head, re.M) and re.search(r"^[A-Z][.)][ \t]", head, re.M))


@dataclass
class _Question:
    line: int  # where it starts
    stem: list[str] = field(default_factory=list)
    options: list[dict] = field(default_factory=list)
    problem: tuple[str, str] | None = None  # (field, message): the first thing wrong

    def fail(self, field_name: str, message: str) -> None:
        if self.problem is None:
            self.problem = (field_name, message)

    @property
    def stem_text(self) -> str:
        return "\n".join(self.stem).strip()


def parse(source: ImportSource) -> ParseStream:
    name = source.file_name
    current: _Question | None = None
    for number, raw in enumerate(source.text().splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if answer := ANSWER.match(line):
            if current is None:
                yield RowError(name, number, "answer", f"line {number}: 'ANSWER:' without a question above it")
                continue
            yield _finish(current, answer.group(1).strip(), number, name, source.subject)
            current = None
        elif option := OPTION.match(line):
            if current is None:
                current = _Question(line=number)
                current.fail(
                    "stem",
                    f"line {number}: the option {line!r} has no question text above it; "
                    "write the question on the line before its first option",
                )
            current.options.append({"key": option.group(1), "text": option.group(2).strip()})
        elif OPTION_WITHOUT_SPACE.match(line) and current is not None and current.stem:
            current.fail(
                "options",
                f"line {number}: {line!r} needs a space after '{line[:2]}' (write '{line[:2]} {line[2:].strip()}')",
            )
        else:
            if current is not None and current.options:
                # a new question starts while the previous one still waits for its ANSWER line
                yield _unfinished(current, name, number)
                current = None
            if current is None:
                current = _Question(line=number)
            current.stem.append(line)
    if current is not None:
        yield _unfinished(current, name, None)


def _unfinished(question: _Question, file_name: str, next_line: int | None) -> RowError:
    if question.problem:
        field_name, message = question.problem
        return RowError(file_name, question.line, field_name, message)
    where = f"before line {next_line}" if next_line else "at the end of the file"
    what = f"{question.stem_text[:40]!r}" if question.stem else "the question"
    return RowError(
        file_name,
        question.line,
        "answer",
        f"{what} (line {question.line}) is not finished: it needs an 'ANSWER: <letter>' line {where}",
    )


def _finish(
    question: _Question, answer: str, answer_line: int, file_name: str, subject: str
) -> QuestionRecord | RowError:
    def error(field_name: str, message: str) -> RowError:
        return RowError(file_name, question.line, field_name, message)

    if question.problem:
        return error(*question.problem)
    if not question.stem:
        return error("stem", f"line {question.line}: the question has no text")
    keys = [option["key"] for option in question.options]
    if len(keys) < 2:
        found = f"only {len(keys)} ({', '.join(keys)})" if keys else "none"
        return error(
            "options",
            f"{question.stem_text[:40]!r} (line {question.line}) has too few answers: an Aiken "
            f"question needs at least two options like 'A) text', found {found}",
        )
    expected = [chr(ord("A") + index) for index in range(len(keys))]
    if keys != expected:
        return error(
            "options", f"the options are lettered {', '.join(keys)}; they must run {', '.join(expected)} in order"
        )
    upper = answer.upper()
    if not _ANSWER_LETTERS.match(upper):
        return error("answer", f"line {answer_line}: 'ANSWER: {answer}' must give an option letter such as {keys[0]}")
    letters = list(dict.fromkeys(re.sub(r"[\s,;]", "", upper)))
    unknown = [letter for letter in letters if letter not in keys]
    if unknown:
        return error(
            "answer",
            f"line {answer_line}: 'ANSWER: {answer}' names {', '.join(unknown)}, but the options are {', '.join(keys)}",
        )
    return QuestionRecord(
        subject=subject,
        qtype=QuestionType.SINGLE_CHOICE if len(letters) == 1 else QuestionType.MULTIPLE_CHOICE,
        stem=question.stem_text,
        options=question.options,
        answer="".join(key for key in keys if key in letters),
        source_file=file_name,
        source_row=question.line,
    )


FORMAT = Format(
    name="aiken",
    label="Aiken (Moodle)",
    extensions=(".txt", ".aiken", ".aiken.txt"),
    parse=parse,
    sniff=sniff,
    rows_are_lines=True,
)
