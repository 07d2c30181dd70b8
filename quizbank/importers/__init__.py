"""Question-bank importers: one module per format, all producing validated `QuestionRecord`s."""

from quizbank.importers.base import BankImportError, QuestionRecord, RowError
from quizbank.importers.detect import parse_file

__all__ = ["BankImportError", "QuestionRecord", "RowError", "parse_file"]
