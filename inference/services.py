"""The model at work for students: explanations for answered questions."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from core.exceptions import ApplicationError
from inference.engines import get_engine
from inference.engines.base import Engine, ModelServerError
from quizbank import prompts
from quizbank.models import Answer, ExplanationSource, Question, QuestionType
from quizbank.prompt_inputs import question_record
from quizbank.selectors.exams import question_locked_for_practice
from quizbank.services import answer_submit


@dataclass(frozen=True)
class ModelExplanation:
    answer: str | None
    explanation: str
    raw: str
    model: str


def question_chat_request(question: Question, *, max_tokens: int) -> dict:
    """The chat request for one question: the trained prompt, its answer format enforced."""
    record = question_record(question)
    request: dict = {"messages": prompts.prompt_messages(record), "max_tokens": max_tokens}
    if question.qtype == QuestionType.SINGLE_CHOICE:
        request["regex"] = prompts.choice_output_pattern(question.option_keys)
    return request


def explanation_from_result(text: str, model: str) -> ModelExplanation:
    parsed = prompts.parse_output(text)
    return ModelExplanation(answer=parsed.answer, explanation=parsed.explanation, raw=text, model=model)


def question_explain(*, question: Question, client: Engine | None = None, max_tokens: int = 256) -> ModelExplanation:
    client = client or get_engine()
    result = client.chat(**question_chat_request(question, max_tokens=max_tokens))
    return explanation_from_result(result.text, result.model)


def answer_explain(*, answer: Answer, client: Engine | None = None) -> Answer:
    """Attach the served model's explanation; if no model server answers, the bank's own."""
    try:
        explained = question_explain(question=answer.question, client=client)
    except ModelServerError as exc:
        answer.explanation = answer.question.explanation
        answer.explanation_source = ExplanationSource.BANK
        answer.explanation_error = exc.message
    else:
        answer.explanation = explained.explanation
        answer.explanation_source = ExplanationSource.MODEL
        answer.model_answer = explained.answer or ""
        answer.model_version = explained.model
        answer.explanation_error = ""
    answer.save(
        update_fields=["explanation", "explanation_source", "model_answer", "model_version", "explanation_error"]
    )
    return answer


def answer_submit_and_explain(*, user: AbstractBaseUser, question: Question, response: str) -> Answer:
    """Store and grade first (committed, so never lost), then ask the model to explain. A question on an
    exam that is still open cannot be practised: the explanation would give its key away."""
    if question_locked_for_practice(question_id=question.pk, user=user):
        raise ApplicationError("this question is on an exam that is still open", extra={"code": "locked"})
    with transaction.atomic():
        answer = answer_submit(user=user, question=question, response=response)
    return answer_explain(answer=answer)
