"""Papers: fixed (chosen questions, pinned versions) and random (rules drawn per student)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction

from quizbank.grading import MULTIPLE_CHOICE_POLICIES
from quizbank.models import (
    GradingMethod,
    Navigation,
    OverdueRule,
    Paper,
    PaperKind,
    PaperMode,
    PaperQuestion,
    PaperRule,
    Question,
    QuestionType,
    ReviewWhen,
    Subject,
)
from quizbank.selectors.questions import subject_filter
from quizsite.exceptions import ApplicationError

# The settings a teacher may give a paper, with the choices each accepts (None: any value of its type).
PAPER_SETTINGS: dict[str, tuple | None] = {
    "description": None,
    "mode": tuple(PaperMode.values),
    "published": None,
    "open_at": None,
    "close_at": None,
    "time_limit_seconds": None,
    "attempts_allowed": None,
    "grading_method": tuple(GradingMethod.values),
    "shuffle_questions": None,
    "shuffle_options": None,
    "navigation": tuple(Navigation.values),
    "overdue_rule": tuple(OverdueRule.values),
    "grace_seconds": None,
    "multiple_choice_policy": MULTIPLE_CHOICE_POLICIES,
    "review_score": tuple(ReviewWhen.values),
    "review_correctness": tuple(ReviewWhen.values),
    "review_answer": tuple(ReviewWhen.values),
    "review_explanation": tuple(ReviewWhen.values),
}


@dataclass(frozen=True)
class RuleSpec:
    """count questions of subject (a path, sub-subjects included) × type × difficulty, each worth score."""

    count: int
    score: Decimal = Decimal(1)
    subject: str = ""
    qtype: str = ""
    difficulty: int | None = None


def _check_settings(settings: dict) -> dict:
    unknown = sorted(set(settings) - set(PAPER_SETTINGS))
    if unknown:
        raise ApplicationError(f"unknown paper setting(s): {', '.join(unknown)}", extra={"fields": unknown})
    for name, value in settings.items():
        choices = PAPER_SETTINGS[name]
        if choices is not None and value not in choices:
            raise ApplicationError(f"{name} must be one of {', '.join(choices)}, not {value!r}", extra={"field": name})
    open_at, close_at = settings.get("open_at"), settings.get("close_at")
    if open_at and close_at and close_at <= open_at:
        raise ApplicationError("the paper must close after it opens", extra={"field": "close_at"})
    if settings.get("time_limit_seconds") == 0:
        raise ApplicationError(
            "a time limit must be at least one second (leave it empty for none)", extra={"field": "time_limit_seconds"}
        )
    return settings


@transaction.atomic
def paper_create(
    *,
    title: str,
    questions: list[Question],
    scores: list[Decimal] | None = None,
    created_by=None,
    subject: Subject | None = None,
    owner=None,
    **settings,
) -> Paper:
    """A fixed paper: these question versions in this order, each worth its score on this paper
    (the question's own score unless `scores` says otherwise)."""
    if not title.strip():
        raise ApplicationError("a paper needs a title", extra={"field": "title"})
    if not questions:
        raise ApplicationError("a paper needs at least one question", extra={"field": "questions"})
    if scores is not None and len(scores) != len(questions):
        raise ApplicationError("give one score per question", extra={"field": "scores"})
    if len({question.pk for question in questions}) != len(questions):
        raise ApplicationError("a question appears twice on the paper", extra={"field": "questions"})
    paper = Paper.objects.create(
        title=title.strip(),
        subject=subject,
        created_by=created_by,
        owner=owner,
        kind=PaperKind.FIXED,
        **_check_settings(settings),
    )
    PaperQuestion.objects.bulk_create(
        PaperQuestion(
            paper=paper,
            question=question,
            position=position,
            score=question.score if scores is None else Decimal(scores[position - 1]),
        )
        for position, question in enumerate(questions, start=1)
    )
    return paper


@transaction.atomic
def paper_create_random(
    *, title: str, rules: list[RuleSpec], created_by=None, subject: Subject | None = None, **settings
) -> Paper:
    """A random paper: each student draws their own questions by the rules when they start.
    Every rule must find enough current questions now, so a student never meets a paper that cannot
    be drawn."""
    if not title.strip():
        raise ApplicationError("a paper needs a title", extra={"field": "title"})
    if not rules:
        raise ApplicationError("a random paper needs at least one rule", extra={"field": "rules"})
    paper = Paper.objects.create(
        title=title.strip(), subject=subject, created_by=created_by, kind=PaperKind.RANDOM, **_check_settings(settings)
    )
    for position, spec in enumerate(rules, start=1):
        if spec.count < 1:
            raise ApplicationError(f"rule {position}: count must be at least 1", extra={"rule": position})
        if spec.qtype and spec.qtype not in QuestionType.values:
            raise ApplicationError(f"rule {position}: unknown question type {spec.qtype!r}", extra={"rule": position})
        rule_subject = Subject.objects.filter(path=spec.subject.strip().strip("/")).first() if spec.subject else None
        if spec.subject and rule_subject is None:
            raise ApplicationError(f"rule {position}: no subject {spec.subject!r}", extra={"rule": position})
        rule = PaperRule.objects.create(
            paper=paper,
            position=position,
            subject=rule_subject,
            qtype=spec.qtype,
            difficulty=spec.difficulty,
            count=spec.count,
            score=Decimal(spec.score),
        )
        available = rule_candidates(rule).count()
        if available < spec.count:
            raise ApplicationError(
                f"rule {position}: asks for {spec.count} questions but the bank has {available}",
                extra={"rule": position, "available": available},
            )
    return paper


def rule_candidates(rule: PaperRule):
    """The current questions a rule draws from, in a stable order."""
    queryset = Question.objects.filter(is_current=True).exclude(qtype=QuestionType.DESCRIPTION)
    if rule.subject_id:
        queryset = queryset.filter(subject_filter(rule.subject.path))
    if rule.qtype:
        queryset = queryset.filter(qtype=rule.qtype)
    if rule.difficulty is not None:
        queryset = queryset.filter(difficulty=rule.difficulty)
    return queryset.order_by("id")


@transaction.atomic
def paper_update(*, paper: Paper, **settings) -> Paper:
    """Change a paper's settings (window, time limit, review policy...). Its questions stay pinned."""
    for name, value in _check_settings(settings).items():
        setattr(paper, name, value)
    if paper.open_at and paper.close_at and paper.close_at <= paper.open_at:
        raise ApplicationError("the paper must close after it opens", extra={"field": "close_at"})
    paper.save()
    return paper
