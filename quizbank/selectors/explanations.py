"""Reads of the model's stored explanations of bank questions (QuestionExplanation): which questions a
model version has yet to explain, and how far each version has got.

A row with empty text records an attempt that failed: the review page never shows it, and the
question counts as unexplained until a later run stores the text."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from quizbank.models import Question, QuestionExplanation, QuestionType

# A description is no question: no instruction record exists for it, and the model is never asked.
UNEXPLAINED_TYPES = (QuestionType.DESCRIPTION,)


def explainable_questions() -> QuerySet[Question]:
    """The current questions a model version explains."""
    return Question.objects.filter(is_current=True).exclude(qtype__in=UNEXPLAINED_TYPES)


def questions_unexplained(*, version_name: str) -> QuerySet[Question]:
    """Explainable questions without an explanation by `version_name`: never asked, or asked and failed."""
    explained = QuestionExplanation.objects.filter(question_id=OuterRef("pk"), model_version=version_name).exclude(
        text=""
    )
    return explainable_questions().exclude(Exists(explained))


@dataclass(frozen=True)
class ExplanationProgress:
    """One version's explanations of the current bank: stored, failed at the last attempt, and in all."""

    explained: int
    failed: int
    total: int

    @property
    def missing(self) -> int:
        return self.total - self.explained


def explanation_progress(*, version_names: Iterable[str]) -> dict[str, ExplanationProgress]:
    """Each named version's progress through the current bank, in two queries."""
    names = list(version_names)
    total = explainable_questions().count()
    rows = (
        QuestionExplanation.objects.filter(model_version__in=names, question__in=explainable_questions().values("pk"))
        .values("model_version")
        .annotate(explained=Count("pk", filter=~Q(text="")), failed=Count("pk", filter=Q(text="")))
        .order_by()
    )
    counts: dict[str, tuple[int, int]] = {row["model_version"]: (row["explained"], row["failed"]) for row in rows}
    return {
        name: ExplanationProgress(
            explained=counts.get(name, (0, 0))[0], failed=counts.get(name, (0, 0))[1], total=total
        )
        for name in names
    }
