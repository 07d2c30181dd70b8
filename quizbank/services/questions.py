"""Creating and editing questions. An edit of a question that a paper uses makes a new version."""

from __future__ import annotations

from dataclasses import fields
from decimal import Decimal

from django.db import IntegrityError, transaction

from core.exceptions import ApplicationError
from quizbank.importers import QuestionRecord
from quizbank.models import Answer, KnowledgePoint, PaperQuestion, Question, SessionItem, Tag
from quizbank.normalize import record_hash
from quizbank.sanitize import clean_record
from quizbank.services.imports import subject_get_or_create

EDITABLE = [f.name for f in fields(QuestionRecord) if not f.name.startswith("source_")]


def _record_from(data: dict, *, base: Question | None = None) -> QuestionRecord:
    values = {}
    if base is not None:
        values = {name: getattr(base, name) for name in EDITABLE if name not in ("subject", "tags", "knowledge_points")}
        values["subject"] = base.subject.path
        values["tags"] = list(base.tags.values_list("name", flat=True))
        values["knowledge_points"] = list(base.knowledge_points.values_list("name", flat=True))
    values.update({key: value for key, value in data.items() if key in EDITABLE})
    for number in ("score", "partial_score"):
        if values.get(number) is not None:
            values[number] = Decimal(str(values[number]))
    record = QuestionRecord(**values)
    record.source_file = "(web)"
    clean_record(record)
    errors = record.validate()
    if errors:
        raise ApplicationError(
            "the question is not valid", extra={"errors": [{"field": e.field, "message": e.message} for e in errors]}
        )
    return record


def _save(record: QuestionRecord, question: Question) -> Question:
    question.subject = subject_get_or_create(path=record.subject)
    for name in EDITABLE:
        if name not in ("subject", "tags", "knowledge_points"):
            setattr(question, name, getattr(record, name))
    question.content_hash = record_hash(record)
    try:
        with transaction.atomic():
            question.save()
    except IntegrityError as exc:
        raise ApplicationError("the bank already has this question", extra={"field": "stem"}) from exc
    question.tags.set([Tag.objects.get_or_create(name=name)[0] for name in record.tags])
    question.knowledge_points.set(
        [KnowledgePoint.objects.get_or_create(name=name)[0] for name in record.knowledge_points]
    )
    return question


@transaction.atomic
def question_create(*, data: dict) -> Question:
    return _save(_record_from(data), Question())


@transaction.atomic
def question_update(*, question: Question, data: dict) -> Question:
    """Edit in place, unless a paper, an attempt or an answer uses the question: then the edit becomes its
    next version and they keep the version they were built with (random papers draw current versions)."""
    record = _record_from(data, base=question)
    in_use = (
        PaperQuestion.objects.filter(question=question).exists()
        or SessionItem.objects.filter(question=question).exists()
        or Answer.objects.filter(question=question).exists()
    )
    if not in_use:
        return _save(record, question)
    Question.objects.filter(pk=question.pk).update(is_current=False)
    new = Question(
        root=question.root or question,
        version=question.version + 1,
        source_file=question.source_file,
        source_row=question.source_row,
        source_dataset=question.source_dataset,
        source_licence=question.source_licence,
    )
    return _save(record, new)
