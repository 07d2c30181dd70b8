"""Reads for practising questions one by one, outside any paper."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.utils import timezone

from quizbank.models import Answer, Paper, PaperMode, Question
from quizbank.selectors.exams import papers_for_student, questions_locked_for_practice


def practice_answers_of(*, user: User) -> QuerySet[Answer]:
    """The student's practice answers (not those of attempts at papers), newest first, with their
    questions: an exam answer's key is shown by the session review, by its policy, never here."""
    return Answer.objects.filter(user=user, session__isnull=True).select_related("question__subject")


def practice_questions() -> QuerySet[Question]:
    """Questions with their subjects (pick one by its id)."""
    return Question.objects.select_related("subject")


def practice_overview(*, user: User, now: datetime | None = None) -> dict:
    """What the practice page lists: the exams not closed (they lead to the exam pages), the class's
    practice papers, each class paper's questions that may be practised one by one (a question on an
    exam that has not closed is not among them) and the student's latest practice answers."""
    now = now or timezone.now()
    papers: list[Paper] = list(papers_for_student(user=user, now=now).prefetch_related("items__question"))
    shared = [p for p in papers if p.owner_id is None]
    locked = questions_locked_for_practice(
        question_ids={item.question_id for paper in shared for item in paper.items.all()}, now=now, user=user
    )
    question_lists = []
    for paper in shared:
        questions = [item.question for item in paper.items.all() if item.question_id not in locked]
        if questions:
            question_lists.append((paper, questions))
    return {
        "exams": [p for p in papers if p.mode == PaperMode.EXAM and not (p.close_at and p.close_at <= now)],
        "practice_papers": [p for p in shared if p.mode == PaperMode.PRACTICE],
        "question_lists": question_lists,
        "recent": practice_answers_of(user=user)[:10],
    }
