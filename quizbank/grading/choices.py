"""Choices: single choice (the chosen option's fraction), multiple choice (by policy) and true/false."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from decimal import Decimal

from quizbank.grading.base import (
    ONE,
    ZERO,
    MultipleChoicePolicy,
    Outcome,
    clamp,
    is_empty_response,
    to_decimal,
    with_feedback,
)
from quizbank.importers.base import FALSE_WORDS, TRUE_WORDS, parse_bool
from quizbank.normalize import normalize_text

# What separates option letters ("A,C", "A C", "A、C") and blanks written on one line ("山西；北京").
_OPTION_SEPARATORS = re.compile(r"[\s,;、/|]+")


def grade_single_choice(options: Sequence[Mapping], key: str, response, *, by_text: bool = False) -> Outcome:
    """The chosen option's fraction: 1 for an option in `key` (the option letter; empty: the options'
    fractions alone decide), else the option's own fraction, clamped to 0..1. With `by_text` (cloze
    drop-downs) a response that is no option letter may be an option's text."""
    if isinstance(response, list | tuple) and len(response) == 1:
        response = response[0]
    if is_empty_response(response):
        return ZERO, {"chosen": None}
    letters = _option_index(options)
    text = normalize_text(str(response))
    letter = text.upper()
    if letter not in letters and by_text:
        letter = next((name for name, option in letters.items() if normalize_text(str(option["text"])) == text), "")
    if letter not in letters:
        raise ValueError(f"{str(response)!r} is not one of the options {', '.join(_keys(options))}")
    chosen = letters[letter]
    in_key = bool(key.strip()) and letter == normalize_text(key).upper()
    fraction = ONE if in_key else clamp(to_decimal(chosen.get("fraction")))
    return fraction, with_feedback({"chosen": str(chosen["key"])}, chosen)


def grade_multiple_choice(
    options: Sequence[Mapping],
    key: str,
    response,
    *,
    policy: MultipleChoicePolicy,
    partial_fraction: Decimal = Decimal("0.5"),
) -> Outcome:
    """`key` is the correct letters ("AC"; empty: the options with a positive fraction). The response is
    "AC", "a, c" or ["c", "A"]: order, case, width and duplicates do not matter.

    - all_or_nothing: exactly the key → 1, else 0.
    - partial_subset (漏选分): exactly the key → 1; a non-empty strict subset of it → partial_fraction;
      any wrong option → 0.
    - fractions: the sum of the chosen options' fractions, clamped to 0..1. An option without a fraction
      counts 1/k when in a key of k letters and −1/k otherwise (each wrong choice cancels a right one);
      positive fractions adding up to more than 1 are scaled to add up to 1, as Moodle requires."""
    letters = _option_index(options)
    chosen = _chosen_letters(response, letters)
    if key.strip():
        correct = _chosen_letters(key, letters)
    else:
        correct = {letter for letter, option in letters.items() if to_decimal(option.get("fraction")) > 0}
    wrong, missed = chosen - correct, correct - chosen
    detail = {"chosen": sorted(chosen), "wrong": sorted(wrong), "missed": sorted(missed)}
    if policy == "fractions":
        fractions = _multiple_fractions(letters, correct)
        return clamp(sum((fractions[letter] for letter in chosen), ZERO)), detail
    if chosen == correct and correct:
        return ONE, detail
    if policy == "partial_subset" and chosen and not wrong:
        return clamp(partial_fraction), detail
    return ZERO, detail


def _multiple_fractions(letters: Mapping[str, Mapping], correct: set[str]) -> dict[str, Decimal]:
    share = ONE / (len(correct) or 1)
    fractions = {
        letter: (share if letter in correct else -share)
        if option.get("fraction") is None
        else to_decimal(option.get("fraction"))
        for letter, option in letters.items()
    }
    positive = sum((value for value in fractions.values() if value > 0), ZERO)
    if positive > ONE:
        fractions = {letter: value / positive if value > 0 else value for letter, value in fractions.items()}
    return fractions


def _option_index(options: Sequence[Mapping]) -> dict[str, Mapping]:
    """Options by their letter, normalised and upper-cased."""
    return {normalize_text(str(option["key"])).upper(): option for option in options}


def _keys(options: Sequence[Mapping]) -> list[str]:
    return [str(option["key"]) for option in options]


def _chosen_letters(response, letters: Mapping[str, Mapping]) -> set[str]:
    """The set of option letters a response names; ValueError for anything that is no option."""
    if is_empty_response(response):
        return set()
    items = response if isinstance(response, list | tuple | set) else [response]
    chosen: set[str] = set()
    for item in items:
        text = normalize_text(str(item)).upper()
        for piece in _OPTION_SEPARATORS.split(text):
            if not piece:
                continue
            if piece in letters:
                chosen.add(piece)
            elif all(char in letters for char in piece):
                chosen.update(piece)
            else:
                options = ", ".join(str(option["key"]) for option in letters.values())
                raise ValueError(f"{str(item)!r} is not one of the options {options}")
    return chosen


def grade_true_false(key: str, response) -> Outcome:
    """1 when the response's word means the same as the key ("true"/"false" or any word of parse_bool)."""
    expected = parse_bool(normalize_text(key))
    if expected is None:
        raise ValueError(f"the true/false key {key!r} is neither true nor false")
    if is_empty_response(response):
        return ZERO, {"chosen": None}
    chosen = response if isinstance(response, bool) else parse_bool(normalize_text(str(response)))
    if chosen is None:
        raise ValueError(
            f"{str(response)!r} is not a true/false answer; for true write one of {', '.join(sorted(TRUE_WORDS))}, "
            f"for false one of {', '.join(sorted(FALSE_WORDS))}"
        )
    return (ONE if chosen == expected else ZERO), {"chosen": chosen}
