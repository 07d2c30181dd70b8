"""Practice, the model's side: a student answers one question outside any paper; the answer is stored
and graded by the bank (quizbank.services.answer_submit), then explained by the served model
(inference.explanations). Reads for the practice pages are quizbank.selectors.practice."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from core.exceptions import ApplicationError
from inference.explanations import answer_explain
from quizbank.models import Answer, Question
from quizbank.selectors.exams import question_locked_for_practice
from quizbank.services import answer_submit

LOCKED = "this question is on an exam that is still open"


def practice_refuse_locked(*, user: AbstractBaseUser, question_id: int) -> None:
    """Practice shows the key and the explanation: refused (409 `locked`) while a version of the
    question is on an exam that is still open."""
    if question_locked_for_practice(question_id=question_id, user=user):
        raise ApplicationError(LOCKED, extra={"code": "locked"})


def practice_answer(*, user: AbstractBaseUser, question: Question, response: str) -> Answer:
    """Store and grade first (committed, so never lost), then ask the model to explain; with no model
    server the bank's explanation is kept instead. A question on an exam that is still open cannot be
    practised: the explanation would give its key away."""
    practice_refuse_locked(user=user, question_id=question.pk)
    with transaction.atomic():
        answer = answer_submit(user=user, question=question, response=response)
    return answer_explain(answer=answer)
