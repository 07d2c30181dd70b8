"""The intermediate record every importer produces, and its validation."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from quizbank.models import QuestionType


@dataclass(frozen=True)
class RowError:
    file: str
    row: int | None  # 1-based item/row number in the source file
    field: str
    message: str

    def __str__(self) -> str:
        where = self.file if self.row is None else f"{self.file}, item {self.row}"
        return f"{where}, field '{self.field}': {self.message}"


class BankImportError(Exception):
    """Raised with every bad row of a file; nothing of that file is written."""

    def __init__(self, errors: list[RowError]):
        self.errors = errors
        super().__init__("\n".join(str(error) for error in errors))


@dataclass
class QuestionRecord:
    subject: str
    qtype: str
    stem: str
    answer: str
    options: list[dict] = field(default_factory=list)
    explanation: str = ""
    score: Decimal = Decimal(1)
    difficulty: int | None = None
    source_file: str = ""
    source_row: int | None = None
    source_dataset: str = ""
    source_licence: str = ""

    def validate(self) -> list[RowError]:
        errors: list[RowError] = []

        def bad(field_name: str, message: str) -> None:
            errors.append(RowError(self.source_file, self.source_row, field_name, message))

        if self.qtype not in QuestionType.values:
            bad("type", f"unknown question type {self.qtype!r}; expected one of {', '.join(QuestionType.values)}")
        if not self.stem.strip():
            bad("stem", "is empty")
        if not self.subject.strip() or any(not part.strip() for part in self.subject.split("/")):
            bad("subject", f"{self.subject!r} is not a subject path like '数学/函数'")
        if not self.answer.strip():
            bad("answer", "is empty")
        if self.qtype == QuestionType.SINGLE_CHOICE:
            keys = [option.get("key") for option in self.options]
            if len(self.options) < 2:
                bad("options", "a single-choice question needs at least two options")
            elif len(set(keys)) != len(keys):
                bad("options", f"option keys repeat: {keys}")
            elif any(not str(option.get("text", "")).strip() for option in self.options):
                bad("options", "an option has no text")
            elif self.answer.strip() not in keys:
                bad("answer", f"{self.answer!r} is not one of the options {', '.join(keys)}")
        try:
            score = Decimal(str(self.score))
            if score <= 0 or score > 1000:
                bad("score", f"{self.score} is outside (0, 1000]")
        except InvalidOperation:
            bad("score", f"{self.score!r} is not a number")
        if self.difficulty is not None and not (isinstance(self.difficulty, int) and 1 <= self.difficulty <= 5):
            bad("difficulty", f"{self.difficulty!r} is not an integer from 1 to 5")
        return errors
