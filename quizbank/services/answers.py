"""Papers and answers: exact grading of what a key decides."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from quizbank.grading import grade
from quizbank.models import Answer, Paper, PaperQuestion, Question, Subject
from quizsite.exceptions import ApplicationError


@transaction.atomic
def paper_create(*, title: str, questions: list[Question], created_by=None, subject: Subject | None = None) -> Paper:
    paper = Paper.objects.create(title=title, subject=subject, created_by=created_by)
    PaperQuestion.objects.bulk_create(
        PaperQuestion(paper=paper, question=question, position=position, score=question.score)
        for position, question in enumerate(questions, start=1)
    )
    return paper


def answer_submit(*, user: AbstractBaseUser, question: Question, response: str) -> Answer:
    """Store the answer with its exact grade (quizbank.grading); the explanation comes afterwards.

    Types a key cannot decide (essay, unmatched short answers) are stored ungraded or for review.
    """
    response = response.strip()
    try:
        result = grade(question, response)
    except ValueError as exc:
        raise ApplicationError(str(exc), extra={"field": "response"}) from exc
    return Answer.objects.create(
        user=user, question=question, response=response, is_correct=result.correct, score=result.score
    )
