"""Writes to the question bank: imports, papers, answers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from quizbank.importers import BankImportError, QuestionRecord, RowError, iter_file
from quizbank.models import Answer, KnowledgePoint, Paper, PaperQuestion, Question, QuestionType, Subject, Tag
from quizbank.normalize import normalize_text, record_hash
from quizsite.exceptions import ApplicationError


@dataclass
class ImportReport:
    created: int = 0
    duplicates: int = 0
    skipped: int = 0
    errors: list[RowError] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    dry_run: bool = False

    @property
    def written(self) -> bool:
        return self.created > 0 and not self.dry_run

    def as_dict(self) -> dict:
        return {
            "created": self.created, "duplicates": self.duplicates, "skipped": self.skipped,
            "errors": [error.as_dict() for error in self.errors],
        }


class _DryRunRollback(Exception):
    pass


IMPORT_BATCH = 1000


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


class _BankWriter:
    """Writes validated records in batches: duplicates skipped, subjects/tags created as met."""

    def __init__(self, report: ImportReport):
        self.report = report
        self.pending: list[QuestionRecord] = []
        self.seen: set[str] = set()
        self.subjects: dict[str, Subject] = {}
        self.tags: dict[str, int] = {}
        self.points: dict[str, int] = {}

    def add(self, record: QuestionRecord) -> None:
        self.pending.append(record)
        if len(self.pending) >= IMPORT_BATCH:
            self.flush()

    def flush(self) -> None:
        batch, self.pending = self.pending, []
        if not batch:
            return
        hashes = [record_hash(record) for record in batch]
        known = set(Question.objects.filter(content_hash__in=hashes, is_current=True).values_list("content_hash", flat=True))
        rows, extras = [], []
        for record, digest in zip(batch, hashes, strict=True):
            if digest in known or digest in self.seen:
                self.report.duplicates += 1
                continue
            self.seen.add(digest)
            rows.append(_question_row(record, digest, self._subject(record.subject)))
            extras.append(record)
        created = Question.objects.bulk_create(rows)
        self._link(created, extras)
        self.report.created += len(created)

    def _subject(self, path: str) -> Subject:
        if path not in self.subjects:
            self.subjects[path] = subject_get_or_create(path=path)
        return self.subjects[path]

    def _link(self, questions: list[Question], records: list[QuestionRecord]) -> None:
        tag_links, point_links = [], []
        for question, record in zip(questions, records, strict=True):
            for name in dict.fromkeys(record.tags):
                tag_links.append(Question.tags.through(question_id=question.pk, tag_id=self._named(Tag, self.tags, name)))
            for name in dict.fromkeys(record.knowledge_points):
                point_links.append(
                    Question.knowledge_points.through(
                        question_id=question.pk, knowledgepoint_id=self._named(KnowledgePoint, self.points, name)
                    )
                )
        Question.tags.through.objects.bulk_create(tag_links)
        Question.knowledge_points.through.objects.bulk_create(point_links)

    @staticmethod
    def _named(model, cache: dict[str, int], name: str) -> int:
        if name not in cache:
            cache[name] = model.objects.get_or_create(name=name)[0].pk
        return cache[name]


def _question_row(record: QuestionRecord, digest: str, subject: Subject) -> Question:
    return Question(
        subject=subject, qtype=record.qtype, stem=record.stem, stem_format=record.stem_format, options=record.options,
        answer=record.answer, answer_data=record.answer_data, explanation=record.explanation.strip(),
        general_feedback=record.general_feedback, score=record.score, partial_score=record.partial_score,
        difficulty=record.difficulty, source_file=record.source_file, source_row=record.source_row,
        source_dataset=record.source_dataset, source_licence=record.source_licence, content_hash=digest,
    )


def bank_import(
    *,
    paths: list[Path],
    fmt: str = "",
    subject: str = "",
    skip_invalid: bool = False,
    dry_run: bool = False,
    file_names: list[str] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import files in one transaction, streaming. With any bad row nothing is written, unless
    `skip_invalid`, which writes the good rows and reports the rest. `dry_run` writes nothing."""
    report = ImportReport(dry_run=dry_run)
    names = file_names or [path.name for path in paths]
    try:
        with transaction.atomic():
            writer = _BankWriter(report)
            seen = 0
            for path, name in zip(paths, names, strict=True):
                report.files.append(name)
                try:
                    for item in iter_file(path, fmt=fmt, subject=subject, file_name=name):
                        if isinstance(item, RowError):
                            report.errors.append(item)
                            continue
                        seen += 1
                        if not report.errors or skip_invalid:
                            writer.add(item)
                        if on_progress and seen % 500 == 0:
                            on_progress(seen)
                except BankImportError as exc:
                    report.errors.extend(exc.errors)
            if not report.errors or skip_invalid:
                writer.flush()
            report.skipped = len({(error.file, error.row) for error in report.errors})
            if report.errors and not skip_invalid:
                report.created = report.duplicates = 0
                raise _DryRunRollback
            if dry_run:
                raise _DryRunRollback
    except _DryRunRollback:
        pass
    return report


def bank_import_file(*, path: Path, subject: str = "", fmt: str = "") -> ImportReport:
    """Import one file, all or nothing: BankImportError lists every bad row."""
    report = bank_import(paths=[path], fmt=fmt, subject=subject)
    if report.errors:
        raise BankImportError(report.errors)
    return report


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
