"""Fill in the blank: each blank against its accepted answers, in order or, with order_free, paired by
a maximum matching."""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal

from quizbank.grading.base import CORRECT_PRECISION, ONE, ZERO, Outcome, compare_key, is_empty_response, to_decimal
from quizbank.normalize import normalize_text

_BLANK_SEPARATOR = re.compile(r"[;]")


def grade_fill_blank(data: Mapping, response, *, total: Decimal = ONE) -> Outcome:
    """`data` is fill_blank answer_data; the response is one string per blank (a single string is split
    at ";" / "；"); responses beyond the number of blanks are ignored.

    A blank matches a response equal to one of its answers after normalize_text, case-insensitively
    unless case_sensitive. With order_free the responses may fill the blanks in any order: each blank
    and each response is used once, paired by a maximum matching that favours the blanks worth most,
    and a response repeated verbatim counts once.
    Each blank is worth its `score`; blanks without one share what is left of `total` (the question's
    score) equally; the shares are then scaled to add up to 1 (detail gives each blank's "weight", its
    part of the whole)."""
    blanks = list(data.get("blanks") or [])
    if not blanks:
        raise ValueError("the fill-in-the-blank question has no blanks")
    responses = _blank_responses(response)[: len(blanks)]
    sensitive = bool(data.get("case_sensitive", False))
    accepted = [{compare_key(answer, sensitive) for answer in blank.get("answers", [])} for blank in blanks]
    keyed: list[str | None] = [compare_key(text, sensitive) if text else None for text in responses]
    weights = _blank_weights(blanks, total)
    order_free = bool(data.get("order_free"))
    if order_free:
        seen: set[str] = set()
        for index, text in enumerate(keyed):  # a repeated answer counts once
            if text in seen:
                keyed[index] = None
            elif text is not None:
                seen.add(text)
        matched = _max_matching(accepted, keyed, weights)
    else:
        matched = {index: index for index, text in enumerate(keyed) if text is not None and text in accepted[index]}
    weight_sum = sum(weights, ZERO)
    detail_blanks = []
    for index, weight in enumerate(weights):
        position = matched.get(index) if order_free else index
        detail_blanks.append(
            {
                "response": responses[position] if position is not None and position < len(responses) else None,
                "correct": index in matched,
                "weight": str((weight / weight_sum).quantize(CORRECT_PRECISION, rounding=ROUND_HALF_UP)),
            }
        )
    return sum((weights[index] for index in matched), ZERO) / weight_sum, {"blanks": detail_blanks}


def _blank_responses(response) -> list[str]:
    if is_empty_response(response):
        return []
    if isinstance(response, str):
        return [part.strip() for part in _BLANK_SEPARATOR.split(normalize_text(response))]
    return ["" if item is None else str(item).strip() for item in response]


def _blank_weights(blanks: list[Mapping], total: Decimal) -> list[Decimal]:
    given = [None if blank.get("score") is None else max(to_decimal(blank["score"]), ZERO) for blank in blanks]
    missing = sum(1 for value in given if value is None)
    rest = max(total - sum((value for value in given if value is not None), ZERO), ZERO)
    share = rest / missing if missing else ZERO
    weights = [share if value is None else value for value in given]
    if not sum(weights, ZERO):
        return [ONE] * len(blanks)
    return weights


def _max_matching(accepted: list[set[str]], responses: list[str | None], weights: list[Decimal]) -> dict[int, int]:
    """blank → response, a matching of the greatest total weight. The blanks that can be matched
    together form a transversal matroid, so trying them heaviest first and keeping each one an
    augmenting path (Kuhn) can place is optimal."""
    owner: dict[int, int] = {}  # response → blank

    def place(blank: int, visited: set[int]) -> bool:
        for position, text in enumerate(responses):
            if text is None or text not in accepted[blank] or position in visited:
                continue
            visited.add(position)
            if position not in owner or place(owner[position], visited):
                owner[position] = blank
                return True
        return False

    for blank in sorted(range(len(accepted)), key=lambda index: -weights[index]):
        place(blank, set())
    return {blank: position for position, blank in owner.items()}
