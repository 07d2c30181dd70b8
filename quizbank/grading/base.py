"""What every grading rule shares: the policy names, exact decimal arithmetic (a stored number read as a
Decimal, a fraction clamped to 0..1, scores in cents), what counts as unanswered, and how typed text is
compared."""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Literal, get_args

from quizbank.normalize import normalize_text

MultipleChoicePolicy = Literal["all_or_nothing", "partial_subset", "fractions"]
MULTIPLE_CHOICE_POLICIES: tuple[str, ...] = get_args(MultipleChoicePolicy)

ZERO = Decimal(0)
ONE = Decimal(1)
CENT = Decimal("0.01")
# Moodle stores fractions with 7 decimals (1/3 → 0.3333333): three of them still make a correct answer.
CORRECT_PRECISION = Decimal("0.000001")
# Spaces next to a CJK character (ideographs, kana, CJK punctuation) carry no meaning: "北 京" is "北京"
# and "维生素 C" is "维生素C"; spaces between Latin words still count.
_CJK = "\u2e80-\u2fff\u3000-\u303f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_SPACE = re.compile(f"\\s+(?=[{_CJK}])|(?<=[{_CJK}])\\s+")

# A grader's verdict: the fraction of the score earned (clamped to 0..1 afterwards) and detail.
Outcome = tuple[Decimal, dict]


def to_decimal(value) -> Decimal:
    """A finite Decimal from a stored number (None → 0); floats go through str so 0.1 stays 0.1."""
    if value is None or value == "":
        return ZERO
    if isinstance(value, Decimal):
        number = value
    else:
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            raise ValueError(f"{value!r} in the question is not a number") from None
    if not number.is_finite():
        raise ValueError(f"{value!r} in the question is not a finite number")
    return number


def clamp(fraction: Decimal) -> Decimal:
    return min(max(fraction, ZERO), ONE)


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def is_empty_response(response) -> bool:
    """Nothing answered: None, blank text, or containers of those (an unanswered question scores 0)."""
    if response is None:
        return True
    if isinstance(response, str):
        return not response.strip()
    if isinstance(response, Mapping):
        return all(is_empty_response(item) for item in response.values())
    if isinstance(response, list | tuple | set):
        return all(is_empty_response(item) for item in response)
    return False


def with_feedback(detail: dict, source: Mapping) -> dict:
    if source.get("feedback"):
        detail["feedback"] = str(source["feedback"])
    return detail


def compare_key(text, case_sensitive: bool) -> str:
    """What a typed answer is compared by: normalize_text (NFKC, so full-width is half-width, and
    whitespace collapsed), no spaces beside CJK characters, and casefolded unless case_sensitive."""
    normal = _CJK_SPACE.sub("", normalize_text(str(text)))
    return normal if case_sensitive else normal.casefold()
