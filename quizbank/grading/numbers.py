"""Numerical answers: a number as students type it, within a tolerance or a range."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation

from quizbank.grading.base import ZERO, Outcome, clamp, is_empty_response, to_decimal, with_feedback
from quizbank.normalize import normalize_text

_THOUSANDS = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d*)?")
_DECIMAL_COMMA = re.compile(r"[+-]?\d*,\d+")


def parse_number(text) -> Decimal:
    """A finite Decimal from what a student types: full-width digits, "1,000" (thousands), "3,14"
    (decimal comma), "−2", "1e3", spaces inside the number; ValueError otherwise."""
    raw = normalize_text(str(text)).replace("\u2212", "-").replace(" ", "")
    if _THOUSANDS.fullmatch(raw):
        raw = raw.replace(",", "")
    elif _DECIMAL_COMMA.fullmatch(raw):
        raw = raw.replace(",", ".")
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise ValueError(f"{str(text)!r} is not a number") from None
    if not value.is_finite():
        raise ValueError(f"{str(text)!r} is not a finite number")
    return value


def grade_numerical(answers: Sequence[Mapping], response) -> Outcome:
    """The greatest fraction among the answers the number meets: |x − value| ≤ tolerance (0 when
    absent) or min ≤ x ≤ max, bounds included. Unparsable → 0 with detail["error"]."""
    if is_empty_response(response):
        return ZERO, {"value": None}
    try:
        value = parse_number(response)
    except ValueError as exc:
        return ZERO, {"value": None, "error": str(exc)}
    best: tuple[Decimal, Mapping] | None = None
    for answer in answers:
        if "value" in answer:
            hit = abs(value - to_decimal(answer["value"])) <= abs(to_decimal(answer.get("tolerance")))
        elif "min" in answer and "max" in answer:
            hit = to_decimal(answer["min"]) <= value <= to_decimal(answer["max"])
        else:
            hit = False
        fraction = to_decimal(answer.get("fraction", 1))
        if hit and (best is None or fraction > best[0]):
            best = (fraction, answer)
    if best is None:
        return ZERO, {"value": str(value), "matched": None}
    detail = with_feedback({"value": str(value), "matched": _describe_numeric(best[1])}, best[1])
    return clamp(best[0]), detail


def _describe_numeric(answer: Mapping) -> str:
    if "value" in answer:
        return f"{answer['value']}±{answer.get('tolerance') or 0}"
    return f"{answer['min']}..{answer['max']}"
