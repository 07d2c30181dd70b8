"""Reads of papers as lists: a teacher's (every setting, their counts) and a student's (each with the
student's own attempts and the grade they may see), each in a fixed number of queries."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from django.contrib.auth.models import User
from django.db.models import Count, Prefetch, Q, QuerySet, Sum

from core.recent import Recent
from quizbank.models import OPEN_SESSION_STATES, Paper, PaperQuestion, Question, SessionState
from quizbank.selectors.access import assignments_of_student, terms_of
from quizbank.selectors.exams import grade_shown, papers_for_student, sessions_of_student

# A fixed paper's questions (pinned versions) and scores, as each start of an attempt draws them: kept
# in this process for a few seconds, since a class starts together. Only the admin site changes a fixed
# paper's questions, and a change is forgotten at once here (quizbank.receivers); elsewhere after at
# most 10 s. Questions are shared read-only between the attempts started meanwhile.
_slots: Recent[list[tuple[Question, Decimal]]] = Recent(seconds=10.0, limit=500)


def fixed_paper_slots(*, paper: Paper) -> list[tuple[Question, Decimal]]:
    """The questions of a fixed paper in order, with their scores on it."""

    def read() -> list[tuple[Question, Decimal]]:
        rows = PaperQuestion.objects.filter(paper_id=paper.pk).select_related("question").order_by("position")
        return [(row.question, row.score) for row in rows]

    return list(_slots.read(paper.pk, read))


def fixed_paper_slots_forget(*, paper_id: int | None = None) -> None:
    _slots.forget(paper_id)


def papers_of_teacher() -> QuerySet[Paper]:
    """Every paper with its subject, rules and question count (`item_count`)."""
    return (
        Paper.objects.select_related("subject").annotate(item_count=Count("items")).prefetch_related("rules__subject")
    )


def paper_of_teacher() -> QuerySet[Paper]:
    """`papers_of_teacher` with each paper's questions (pick one by its id)."""
    return papers_of_teacher().prefetch_related("items__question")


def papers_with_attempts(*, user: User, paper_id: int | None = None, now: datetime | None = None) -> Sequence[Paper]:
    """The papers the student may see (one, given its id), each with the student's own attempts, newest
    first (`own_sessions`), its question count (`item_count`) and the grade the review policy lets them
    see now (`shown_grade`, None while it hides scores)."""
    papers = papers_for_student(user=user, now=now)
    if paper_id is not None:
        papers = papers.filter(pk=paper_id)
    papers = papers.annotate(item_count=Count("items")).prefetch_related(
        "rules",
        Prefetch("sessions", queryset=sessions_of_student(user=user), to_attr="own_sessions"),
        Prefetch("assignments", queryset=assignments_of_student(user=user), to_attr="own_assignments"),
    )
    loaded = list(papers)
    for paper in loaded:
        # the student's window and time limit: their class's where the paper is assigned to it
        paper.terms = terms_of(paper=paper, assignments=paper.own_assignments, now=now)  # type: ignore[attr-defined]
        for session in paper.own_sessions:
            session.paper = paper  # the review policy reads the terms just loaded, not the database again
        # an attribute for the page and the serializer, like own_sessions; not a column
        paper.shown_grade = grade_shown(paper=paper, sessions=paper.own_sessions, now=now)  # type: ignore[attr-defined]
    return loaded


def class_papers() -> QuerySet[Paper]:
    """The class's papers (not students' personal practice papers), newest first."""
    return Paper.objects.filter(owner__isnull=True).order_by("-created_at", "-id")


def papers_overview() -> QuerySet[Paper]:
    """Class papers with their attempt counts: finished, open, and answers still waiting for a grade."""
    finished = Q(sessions__state=SessionState.FINISHED)
    return class_papers().annotate(
        finished_count=Count("sessions", filter=finished),
        open_count=Count("sessions", filter=Q(sessions__state__in=OPEN_SESSION_STATES)),
        pending_total=Sum("sessions__pending_count", filter=finished),
    )
