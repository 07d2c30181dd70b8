"""Papers and answers: exact grading of what a key decides."""

from __future__ import annotations

from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from quizbank.models import Answer, Paper, PaperQuestion, Question, QuestionType, Subject
from quizbank.normalize import normalize_text
from quizsite.exceptions import ApplicationError


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
