"""Questions of several parts: matching (pairs) and cloze (sub-questions, each by its type's rule)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

from quizbank.grading.base import (
    CORRECT_PRECISION,
    ONE,
    ZERO,
    MultipleChoicePolicy,
    Outcome,
    clamp,
    is_empty_response,
    to_decimal,
)
from quizbank.grading.choices import grade_multiple_choice, grade_single_choice, grade_true_false
from quizbank.grading.numbers import grade_numerical
from quizbank.grading.short_answer import grade_short_answer
from quizbank.models import QuestionType
from quizbank.normalize import normalize_text


def grade_matching(pairs: Sequence[Mapping], response) -> Outcome:
    """Correct pairs / pairs. The response is {left: right} or a list of rights in pair order; both sides
    are compared after normalize_text, case-sensitively ("Co" is not "CO"). Lefts that are no pair's
    are ignored and listed in detail["unknown"]."""
    if not pairs:
        raise ValueError("the matching question has no pairs")
    lefts = [normalize_text(str(pair["left"])) for pair in pairs]
    unknown: list[str] = []
    if is_empty_response(response):
        given: list[str | None] = [None] * len(pairs)
    elif isinstance(response, Mapping):
        by_left = {normalize_text(str(left)): right for left, right in response.items()}
        unknown = [str(left) for left in response if normalize_text(str(left)) not in lefts]
        given = [by_left.get(left) for left in lefts]
    elif isinstance(response, list | tuple):
        given = list(response)[: len(pairs)] + [None] * max(len(pairs) - len(response), 0)
    else:
        raise ValueError("a matching answer is {left: right} or a list of rights in pair order")
    results = [
        right is not None and normalize_text(str(right)) == normalize_text(str(pair["right"]))
        for pair, right in zip(pairs, given, strict=True)
    ]
    detail: dict = {
        "pairs": [{"left": str(pair["left"]), "correct": ok} for pair, ok in zip(pairs, results, strict=True)]
    }
    if unknown:
        detail["unknown"] = unknown
    return Decimal(sum(results)) / len(pairs), detail


def grade_cloze(subquestions: Sequence[Mapping], response, *, policy: MultipleChoicePolicy) -> Outcome:
    """Σ(weight × fraction) / Σ weight over the sub-questions, each graded by its type's rule (a
    drop-down also accepts an option's text; a multi-response gap earns half for 漏选 under
    partial_subset). The response is a list, one entry per sub-question; missing entries are unanswered.
    A ValueError names the gap. detail["needs_review"] when a short-answer gap matched nothing."""
    if not subquestions:
        raise ValueError("the cloze question has no sub-questions")
    if is_empty_response(response):
        responses: list = []
    elif isinstance(response, list | tuple):
        responses = list(response)
    elif len(subquestions) == 1:
        responses = [response]
    else:
        raise ValueError(f"a cloze answer is a list with one entry for each of its {len(subquestions)} gaps")
    weights = [max(to_decimal(sub.get("weight", 1)), ZERO) for sub in subquestions]
    if not sum(weights, ZERO):
        weights = [ONE] * len(subquestions)
    parts = []
    earned = ZERO
    for number, (sub, weight) in enumerate(zip(subquestions, weights, strict=True), start=1):
        answer = responses[number - 1] if number <= len(responses) else None
        try:
            fraction, detail = _grade_sub(sub, answer, policy)
        except ValueError as exc:
            raise ValueError(f"gap {number}: {exc}") from None
        fraction = clamp(fraction)
        earned += weight * fraction
        parts.append({"fraction": str(fraction.quantize(CORRECT_PRECISION)), **detail})
    detail = {"subquestions": parts, "needs_review": any(part.get("needs_review") for part in parts)}
    return earned / sum(weights, ZERO), detail


def _grade_sub(sub: Mapping, response, policy: MultipleChoicePolicy) -> Outcome:
    kind = sub.get("type")
    if kind == QuestionType.SINGLE_CHOICE:
        return grade_single_choice(sub.get("options") or [], "", response, by_text=True)
    if kind == QuestionType.MULTIPLE_CHOICE:
        return grade_multiple_choice(sub.get("options") or [], "", response, policy=policy)
    if kind == QuestionType.SHORT_ANSWER:
        return grade_short_answer(
            sub.get("answers") or [], response, case_sensitive=bool(sub.get("case_sensitive", False))
        )
    if kind == QuestionType.NUMERICAL:
        return grade_numerical(sub.get("answers") or [], response)
    if kind == QuestionType.TRUE_FALSE:
        return grade_true_false(str(sub.get("answer", "")), response)
    raise ValueError(f"sub-question type {kind!r} cannot be graded")
