"""Question-bank importers: one module per format, all producing validated `QuestionRecord`s."""

from quizbank.importers.base import BankImportError, QuestionRecord, RowError
from quizbank.importers.detect import detect_format, iter_file, parse_file

__all__ = ["BankImportError", "QuestionRecord", "RowError", "detect_format", "iter_file", "parse_file"]
