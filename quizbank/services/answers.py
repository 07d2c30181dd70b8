"""Practice answers outside any session: exact grading of what a key decides."""

from __future__ import annotations

import json

from django.contrib.auth.models import User

from core.exceptions import ApplicationError
from quizbank.grading import grade
from quizbank.models import Answer, Question

# The longest response kept, in characters (of its JSON for lists and dicts): a long essay is a few
# thousand; anything near this is pasted junk that would only fill the database and the grader's prompt.
ANSWER_MAX_CHARS = 50_000


def answer_length_check(response: object, *, position: int | None = None) -> None:
    """Refuse a response longer than ANSWER_MAX_CHARS with a clear error (400)."""
    length = len(response) if isinstance(response, str) else len(json.dumps(response, ensure_ascii=False))
    if length > ANSWER_MAX_CHARS:
        extra = {"field": "response"} if position is None else {"field": "response", "position": position}
        raise ApplicationError(
            f"the answer is too long: {length} characters, the limit is {ANSWER_MAX_CHARS}", extra=extra
        )


def answer_submit(*, user: User, question: Question, response: str) -> Answer:
    """Store the answer with its exact grade (quizbank.grading); the explanation comes afterwards.

    Types a key cannot decide (essay, unmatched short answers) are stored ungraded or for review.
    """
    answer_length_check(response)
    response = response.strip()
    try:
        result = grade(question, response)
    except ValueError as exc:
        raise ApplicationError(str(exc), extra={"field": "response"}) from exc
    return Answer.objects.create(
        user=user, question=question, response=response, is_correct=result.correct, score=result.score
    )
