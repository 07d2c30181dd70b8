"""Answers and their exact grades: what a key decides, for practice outside any session and for the
columns a session's save writes."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import User

from core.exceptions import ApplicationError
from quizbank.grading import GradeResult, MultipleChoicePolicy, grade
from quizbank.models import Answer, GradeStatus, Question

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


def response_text(response: Any) -> str:
    """A readable form of a structured response, for lists of answers and the teacher's screens."""
    if response is None:
        return ""
    if isinstance(response, dict):
        return "；".join(f"{left} → {right}" for left, right in response.items())
    if isinstance(response, list | tuple):
        return "；".join("" if part is None else response_text(part) for part in response)
    return str(response).strip()


def grade_status(result: GradeResult) -> str:
    if result.score is None:
        return GradeStatus.PENDING
    if result.detail.get("needs_review"):
        return GradeStatus.NEEDS_REVIEW
    return GradeStatus.AUTO


def answer_fields(
    question: Question, response: Any, *, policy: MultipleChoicePolicy, max_score: Decimal, position: int
) -> dict[str, Any]:
    """The columns a save writes, client_seq aside: the response and its grade."""
    try:
        result = grade(question, response, policy=policy, max_score=max_score)
    except ValueError as exc:
        raise ApplicationError(str(exc), extra={"field": "response", "position": position}) from exc
    return {
        "response": response_text(response),
        "response_data": response,
        "is_correct": result.correct,
        "score": result.score,
        "max_score": result.max_score,
        "grade_status": grade_status(result),
        "grade_detail": result.detail,
    }
