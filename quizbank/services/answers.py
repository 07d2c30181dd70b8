"""Practice answers outside any session: exact grading of what a key decides."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser

from quizbank.grading import grade
from quizbank.models import Answer, Question
from quizsite.exceptions import ApplicationError


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
