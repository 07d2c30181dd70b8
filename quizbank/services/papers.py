"""Papers: fixed (chosen questions, pinned versions) and random (rules drawn per student)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import QuerySet

from core.exceptions import ApplicationError
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
    QuizSession,
    ReviewWhen,
    SessionState,
    Subject,
)
from quizbank.selectors.access import paper_terms
from quizbank.selectors.questions import subject_filter

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


# Settings that must be whole numbers ≥ 0 (time_limit_seconds may also be None: no limit), and flags.
_COUNTS = ("attempts_allowed", "grace_seconds", "time_limit_seconds")
_FLAGS = ("published", "shuffle_questions", "shuffle_options")


def _check_settings(settings: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(settings) - set(PAPER_SETTINGS))
    if unknown:
        raise ApplicationError(f"unknown paper setting(s): {', '.join(unknown)}", extra={"fields": unknown})
    for name, value in settings.items():
        choices = PAPER_SETTINGS[name]
        if choices is not None and value not in choices:
            raise ApplicationError(f"{name} must be one of {', '.join(choices)}, not {value!r}", extra={"field": name})
    # A bad value is refused here, with its field, rather than as a database error.
    for name in _COUNTS:
        value = settings.get(name)
        if name in settings and not (value is None and name == "time_limit_seconds"):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ApplicationError(f"{name} must be a whole number ≥ 0, not {value!r}", extra={"field": name})
    for name in _FLAGS:
        if name in settings and not isinstance(settings[name], bool):
            raise ApplicationError(f"{name} must be true or false, not {settings[name]!r}", extra={"field": name})
    for name in ("open_at", "close_at"):
        value = settings.get(name)
        if value is not None and (not isinstance(value, datetime) or value.tzinfo is None):
            raise ApplicationError(f"{name} must be a date and time with a time zone", extra={"field": name})
    if "description" in settings and settings["description"] is None:
        settings["description"] = ""
    open_at, close_at = settings.get("open_at"), settings.get("close_at")
    if open_at and close_at and close_at <= open_at:
        raise ApplicationError("the paper must close after it opens", extra={"field": "close_at"})
    if settings.get("time_limit_seconds") == 0:
        raise ApplicationError(
            "a time limit must be at least one second (leave it empty for none)", extra={"field": "time_limit_seconds"}
        )
    return settings


def _score(value: object, *, field: str) -> Decimal:
    try:
        score = Decimal(str(value))
    except InvalidOperation:
        raise ApplicationError(f"the score {value!r} is not a number", extra={"field": field}) from None
    if not score.is_finite() or not Decimal(0) <= score < Decimal(10000):
        raise ApplicationError(f"the score {value!r} must be a number from 0 to 9999.99", extra={"field": field})
    return score.quantize(Decimal("0.01"))


@transaction.atomic
def paper_create(
    *,
    title: str,
    questions: list[Question],
    scores: list[Decimal] | None = None,
    created_by: User | None = None,
    subject: Subject | None = None,
    owner: User | None = None,
    **settings: Any,
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
    if scores is None:
        worth = [question.score for question in questions]
    else:
        worth = [_score(score, field="scores") for score in scores]
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
            score=score,
        )
        for position, (question, score) in enumerate(zip(questions, worth, strict=True), start=1)
    )
    return paper


@transaction.atomic
def paper_create_random(
    *,
    title: str,
    rules: list[RuleSpec],
    created_by: User | None = None,
    subject: Subject | None = None,
    **settings: Any,
) -> Paper:
    """A random paper: each student draws their own questions by the rules when they start.
    Every rule must find enough current questions now, so a student never meets a paper that cannot
    be drawn: rules are drawn in order without repeats, so a rule counts only the questions that the
    rules before it cannot have taken."""
    if not title.strip():
        raise ApplicationError("a paper needs a title", extra={"field": "title"})
    if not rules:
        raise ApplicationError("a random paper needs at least one rule", extra={"field": "rules"})
    paper = Paper.objects.create(
        title=title.strip(), subject=subject, created_by=created_by, kind=PaperKind.RANDOM, **_check_settings(settings)
    )
    earlier: list[tuple[set[int], int]] = []  # each earlier rule's candidates and count
    for position, spec in enumerate(rules, start=1):
        if isinstance(spec.count, bool) or not isinstance(spec.count, int) or spec.count < 1:
            raise ApplicationError(f"rule {position}: count must be at least 1", extra={"rule": position})
        if spec.qtype and spec.qtype not in QuestionType.values:
            raise ApplicationError(f"rule {position}: unknown question type {spec.qtype!r}", extra={"rule": position})
        if spec.qtype == QuestionType.DESCRIPTION:
            raise ApplicationError(f"rule {position}: descriptions are not drawn", extra={"rule": position})
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
            score=_score(spec.score, field="rules"),
        )
        candidates = set(rule_candidates(rule).values_list("id", flat=True))
        # In the worst case each earlier rule drew all it could from this rule's pool.
        taken = sum(min(count, len(pool & candidates)) for pool, count in earlier)
        available = len(candidates) - taken
        if available < spec.count:
            shared = f" ({taken} of them may go to earlier rules)" if taken else ""
            raise ApplicationError(
                f"rule {position}: asks for {spec.count} questions but the bank has {len(candidates)}{shared}",
                extra={"rule": position, "available": max(available, 0)},
            )
        earlier.append((candidates, spec.count))
    return paper


def rule_candidates(rule: PaperRule) -> QuerySet[Question]:
    """The current questions a rule draws from, in a stable order."""
    queryset = Question.objects.filter(is_current=True).exclude(qtype=QuestionType.DESCRIPTION)
    if rule.subject is not None:
        queryset = queryset.filter(subject_filter(rule.subject.path))
    if rule.qtype:
        queryset = queryset.filter(qtype=rule.qtype)
    if rule.difficulty is not None:
        queryset = queryset.filter(difficulty=rule.difficulty)
    return queryset.order_by("id")


@transaction.atomic
def paper_update(*, paper: Paper, **settings: Any) -> Paper:
    """Change a paper's settings (window, time limit, review policy...). Its questions stay pinned.
    A new close time or time limit moves the deadlines of the attempts in progress with it, so
    closing a paper early closes them too."""
    for name, value in _check_settings(settings).items():
        setattr(paper, name, value)
    if paper.open_at and paper.close_at and paper.close_at <= paper.open_at:
        raise ApplicationError("the paper must close after it opens", extra={"field": "close_at"})
    paper.save()
    if {"close_at", "time_limit_seconds"} & set(settings):
        paper_deadlines_update(paper=paper)
    return paper


def paper_deadlines_update(*, paper: Paper) -> None:
    """deadline = min(start + time limit, close) for the paper's attempts still in progress (an
    overdue one keeps its deadline: its grace period has begun)."""
    in_progress = QuizSession.objects.select_for_update().filter(paper=paper, state=SessionState.IN_PROGRESS)
    assigned = paper.assignments.exists()
    for session in in_progress:
        # a class's own window and limit, where the paper is assigned, else the paper's
        terms = paper_terms(paper=paper, user=session.user_id) if assigned else paper
        deadline = terms.close_at
        if terms.time_limit_seconds:
            limit = session.started_at + timedelta(seconds=terms.time_limit_seconds)
            deadline = limit if deadline is None else min(limit, deadline)
        if deadline != session.deadline:
            session.deadline = deadline
            session.save(update_fields=["deadline"])
