"""Writes to the question bank: imports, papers, answers."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from quizbank.importers import QuestionRecord, parse_file
from quizbank.models import Answer, Paper, PaperQuestion, Question, QuestionType, Subject
from quizbank.normalize import content_hash, normalize_text
from quizsite.exceptions import ApplicationError


@dataclass(frozen=True)
class ImportReport:
    file: str
    created: int
    duplicates: int


def subject_get_or_create(*, path: str) -> Subject:
    parent = None
    parts = [part.strip() for part in path.split("/") if part.strip()]
    for depth in range(1, len(parts) + 1):
        parent, _ = Subject.objects.get_or_create(
            path="/".join(parts[:depth]), defaults={"name": parts[depth - 1], "parent": parent}
        )
    if parent is None:
        raise ApplicationError(f"{path!r} is not a subject path")
    return parent


@transaction.atomic
def bank_import_records(*, records: list[QuestionRecord], file_name: str) -> ImportReport:
    """Create the questions of one file in one transaction; known questions are skipped."""
    created = duplicates = 0
    seen: set[str] = set()
    for record in records:
        digest = content_hash(qtype=record.qtype, stem=record.stem, options=record.options)
        if digest in seen or Question.objects.filter(content_hash=digest).exists():
            duplicates += 1
            continue
        seen.add(digest)
        Question.objects.create(
            subject=subject_get_or_create(path=record.subject),
            qtype=record.qtype,
            stem=record.stem.strip(),
            options=record.options,
            answer=record.answer.strip(),
            explanation=record.explanation.strip(),
            score=record.score,
            difficulty=record.difficulty,
            source_file=record.source_file,
            source_row=record.source_row,
            source_dataset=record.source_dataset,
            source_licence=record.source_licence,
            content_hash=digest,
        )
        created += 1
    return ImportReport(file=file_name, created=created, duplicates=duplicates)


def bank_import_file(*, path: Path, subject: str = "") -> ImportReport:
    """Parse and validate the whole file first (BankImportError lists every bad row), then write."""
    records = parse_file(path, subject=subject)
    return bank_import_records(records=records, file_name=path.name)


@transaction.atomic
def paper_create(*, title: str, questions: list[Question], created_by=None, subject: Subject | None = None) -> Paper:
    paper = Paper.objects.create(title=title, subject=subject, created_by=created_by)
    PaperQuestion.objects.bulk_create(
        PaperQuestion(paper=paper, question=question, position=position, score=question.score)
        for position, question in enumerate(questions, start=1)
    )
    return paper


def grade_objective(*, question: Question, response: str) -> bool | None:
    """Exact grading where a key decides; None where a key cannot (graded later)."""
    if question.qtype == QuestionType.SINGLE_CHOICE:
        return normalize_text(response).upper() == question.answer.strip().upper()
    return None


def answer_submit(*, user: AbstractBaseUser, question: Question, response: str) -> Answer:
    """Store the answer and its exact grade; the explanation is filled in afterwards."""
    response = response.strip()
    if question.qtype == QuestionType.SINGLE_CHOICE and normalize_text(response).upper() not in question.option_keys:
        raise ApplicationError(
            f"answer {response!r} is not one of the options {', '.join(question.option_keys)}",
            extra={"field": "response"},
        )
    is_correct = grade_objective(question=question, response=response)
    score = None if is_correct is None else (question.score if is_correct else Decimal(0))
    return Answer.objects.create(user=user, question=question, response=response, is_correct=is_correct, score=score)
