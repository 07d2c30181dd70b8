"""`grade(question, response)`: a question's key and score applied to one response, by its type."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal

from quizbank.grading.base import (
    CORRECT_PRECISION,
    MULTIPLE_CHOICE_POLICIES,
    ONE,
    ZERO,
    MultipleChoicePolicy,
    Outcome,
    cents,
    clamp,
    is_empty_response,
    to_decimal,
)
from quizbank.grading.blanks import grade_fill_blank
from quizbank.grading.choices import grade_multiple_choice, grade_single_choice, grade_true_false
from quizbank.grading.compound import grade_cloze, grade_matching
from quizbank.grading.numbers import grade_numerical, parse_number
from quizbank.grading.short_answer import grade_short_answer
from quizbank.models import Question, QuestionType


@dataclass(frozen=True)
class GradeResult:
    """score is None while a person or the model still has to grade (essay); correct is None where there
    is nothing to be right about (essay, description). detail holds JSON-ready facts about the grading."""

    score: Decimal | None
    max_score: Decimal
    correct: bool | None
    detail: dict = field(default_factory=dict)


def grade(
    question: Question,
    response,
    *,
    policy: MultipleChoicePolicy = "partial_subset",
    max_score: Decimal | None = None,
) -> GradeResult:
    """Grade one response to `question`; `max_score` overrides the question's score (a paper's score).

    Raises ValueError for a response naming what the question does not offer, an unknown policy, or a
    question type or key that cannot be graded."""
    if policy not in MULTIPLE_CHOICE_POLICIES:
        raise ValueError(
            f"unknown multiple-choice policy {policy!r}; expected one of {', '.join(MULTIPLE_CHOICE_POLICIES)}"
        )
    worth = to_decimal(question.score if max_score is None else max_score)
    qtype = question.qtype
    if qtype == QuestionType.DESCRIPTION:
        return GradeResult(score=cents(ZERO), max_score=cents(ZERO), correct=None, detail={})
    if qtype == QuestionType.ESSAY:
        if is_empty_response(response):  # nothing written: nothing for a teacher or the model to grade
            return GradeResult(score=cents(ZERO), max_score=cents(worth), correct=False, detail={"pending": False})
        return GradeResult(score=None, max_score=cents(worth), correct=None, detail={"pending": True})
    grader = _GRADERS.get(qtype)
    if grader is None:
        raise ValueError(f"question type {qtype!r} cannot be graded")
    fraction, detail = grader(question, response, policy)
    result = _result(fraction, worth, detail)
    if qtype == QuestionType.MULTIPLE_CHOICE and detail.get("missed") and result.correct:
        # 漏选 worth full marks (partial_score = score) still leaves out part of the key.
        result = replace(result, correct=False)
    return result


def _result(fraction: Decimal, worth: Decimal, detail: dict) -> GradeResult:
    fraction = clamp(fraction)
    correct = fraction.quantize(CORRECT_PRECISION, rounding=ROUND_HALF_UP) >= ONE
    return GradeResult(score=cents(worth * fraction), max_score=cents(worth), correct=correct, detail=detail)


def _single_choice(question: Question, response, policy: MultipleChoicePolicy) -> Outcome:
    return grade_single_choice(question.options, question.answer, response)


def _multiple_choice(question: Question, response, policy: MultipleChoicePolicy) -> Outcome:
    score = to_decimal(question.score)
    if question.partial_score is None or score <= 0:
        partial = Decimal("0.5")
    else:
        partial = to_decimal(question.partial_score) / score
    return grade_multiple_choice(question.options, question.answer, response, policy=policy, partial_fraction=partial)


def _true_false(question: Question, response, policy: MultipleChoicePolicy) -> Outcome:
    return grade_true_false(question.answer, response)


def _fill_blank(question: Question, response, policy: MultipleChoicePolicy) -> Outcome:
    return grade_fill_blank(question.answer_data or {}, response, total=to_decimal(question.score))


def _numerical_answers(question: Question) -> list[Mapping]:
    answers = (question.answer_data or {}).get("answers") or []
    if answers or not question.answer.strip():
        return answers
    low, dots, high = question.answer.partition("..")  # the readable key: "3.14" or "1..5"
    if dots:
        return [{"min": str(parse_number(low)), "max": str(parse_number(high)), "fraction": 1}]
    return [{"value": str(parse_number(question.answer)), "tolerance": 0, "fraction": 1}]


def _numerical(question: Question, response, policy: MultipleChoicePolicy) -> Outcome:
    return grade_numerical(_numerical_answers(question), response)


def _matching(question: Question, response, policy: MultipleChoicePolicy) -> Outcome:
    return grade_matching((question.answer_data or {}).get("pairs") or [], response)


def _short_answer(question: Question, response, policy: MultipleChoicePolicy) -> Outcome:
    data = question.answer_data or {}
    answers = data.get("answers") or []
    if not answers and question.answer.strip():
        answers = [{"text": question.answer, "fraction": 1}]
    return grade_short_answer(answers, response, case_sensitive=bool(data.get("case_sensitive", False)))


def _cloze(question: Question, response, policy: MultipleChoicePolicy) -> Outcome:
    return grade_cloze((question.answer_data or {}).get("subquestions") or [], response, policy=policy)


_GRADERS: dict[str, Callable[[Question, object, MultipleChoicePolicy], Outcome]] = {
    QuestionType.SINGLE_CHOICE: _single_choice,
    QuestionType.MULTIPLE_CHOICE: _multiple_choice,
    QuestionType.TRUE_FALSE: _true_false,
    QuestionType.FILL_BLANK: _fill_blank,
    QuestionType.NUMERICAL: _numerical,
    QuestionType.MATCHING: _matching,
    QuestionType.SHORT_ANSWER: _short_answer,
    QuestionType.CLOZE: _cloze,
}
