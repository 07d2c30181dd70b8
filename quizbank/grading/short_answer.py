"""Short answers: exact match against the accepted answers, with Moodle's `*` wildcard in linear time."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from decimal import Decimal

from quizbank.grading.base import ZERO, Outcome, clamp, compare_key, is_empty_response, to_decimal, with_feedback
from quizbank.normalize import normalize_text

# A short answer is a word or a phrase: a response longer than this (normalised) is not compared with
# the keys at all (it goes to a teacher or the model), so grading an autosave, which runs while the
# session row is locked, costs the same for every response. The answer itself is stored whole.
SHORT_ANSWER_MATCH_MAX_CHARS = 2_000
# Moodle's wildcard: `*` is any text, `\*` a literal star.
_UNESCAPED_STAR = re.compile(r"(?<!\\)\*")


def grade_short_answer(answers: Sequence[Mapping], response, *, case_sensitive: bool = False) -> Outcome:
    """The greatest fraction among the accepted answers the response equals after normalize_text,
    case-insensitively unless case_sensitive; in an accepted answer `*` matches any text and `\\*` is a
    literal star (Moodle's wildcard). No match → 0 and detail["needs_review"]: a teacher or the model
    may still give credit. An empty response needs no review; one longer than
    SHORT_ANSWER_MATCH_MAX_CHARS is not compared and needs review (detail["too_long"])."""
    if is_empty_response(response) or not normalize_text(str(response)):
        return ZERO, {"matched": None, "needs_review": False}
    text = compare_key(response, case_sensitive)
    if len(text) > SHORT_ANSWER_MATCH_MAX_CHARS:
        return ZERO, {"matched": None, "needs_review": True, "too_long": True}
    best: tuple[Decimal, Mapping] | None = None
    for answer in answers:
        fraction = to_decimal(answer.get("fraction", 1))
        if wildcard_match(compare_key(answer.get("text", ""), case_sensitive), text):
            if best is None or fraction > best[0]:
                best = (fraction, answer)
    if best is None:
        return ZERO, {"matched": None, "needs_review": True}
    detail = with_feedback({"matched": str(best[1].get("text", "")), "needs_review": False}, best[1])
    return clamp(best[0]), detail


def wildcard_match(accepted: str, text: str) -> bool:
    """Whether `text` is all of `accepted`, where `*` stands for any text (none included) and `\\*` is a
    literal star. Linear in the text: the pieces between stars are literal, so the first must start
    the text, the last must end it, and each one between is found left to right after the previous
    one (the leftmost place leaves the most room for the rest, so no other place needs trying).
    A regex `.*` translation backtracks instead: `*a*b*c*` against 2,400 characters took half a second."""
    pieces = [piece.replace("\\*", "*") for piece in _UNESCAPED_STAR.split(accepted)]
    if len(pieces) == 1:
        return text == pieces[0]
    first, *middle, last = pieces
    end = len(text) - len(last)
    if end < len(first) or not text.startswith(first) or not text.endswith(last):
        return False
    position = len(first)
    for piece in middle:
        found = text.find(piece, position, end)
        if found < 0:
            return False
        position = found + len(piece)
    return True
