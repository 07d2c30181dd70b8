"""Exact grading of everything a key can decide, as pure functions: nothing is read from or written to
the database.

`grade(question, response)` returns a `GradeResult`. Scores are Decimals quantised to 0.01 (ROUND_HALF_UP)
and never below 0 or above the question's score. `response` is what the student submitted, as the API
carries it; an empty response (None, "", []) is an unanswered question and scores 0. A response that
names something the question does not offer (an option letter, a true/false word) raises ValueError
with a message fit to show the student.

The rules by type (see quizbank/importers/base.py for each `answer_data` shape):
- single_choice: the chosen option's fraction × score; an option in the key earns full marks, other
  options their own (Moodle partial) fraction, never below 0.
- multiple_choice: the policy decides (`MultipleChoicePolicy`): "all_or_nothing"; "partial_subset"
  (漏选分: the key earns full marks, a non-empty strict subset of it without a wrong option earns
  `partial_score`, half the score by default, any wrong option 0); "fractions" (the sum of the chosen
  options' fractions, clamped to 0..1).
- true_false: 对/错/√/×/T/F/true/false/是/否 and the other words of `parse_bool`.
- fill_blank: each blank against its synonyms, normalised (NFKC, whitespace, no spaces beside CJK
  characters) and case-insensitive unless case_sensitive; order_free pairs responses and blanks by a maximum matching; each blank earns
  its share of the score.
- numerical: |x − value| ≤ tolerance or min ≤ x ≤ max; the best matching answer's fraction.
- matching: score × correct pairs / pairs.
- short_answer: exact match against the accepted answers (Moodle `*` wildcard, matched in linear time)
  → that answer's fraction; no match → 0 and detail["needs_review"]. A response longer than
  SHORT_ANSWER_MATCH_MAX_CHARS is kept but never compared: 0, needs_review and detail["too_long"].
- essay: no score (None) and detail["pending"]: a teacher or the model grades it; an empty essay
  scores 0 at once.
- cloze: every sub-question by the rules above; score × Σ(weight × fraction) / Σ weight.
- description: worth nothing (max_score 0).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Literal, get_args

from quizbank.importers.base import FALSE_WORDS, TRUE_WORDS, parse_bool
from quizbank.models import Question, QuestionType
from quizbank.normalize import normalize_text

MultipleChoicePolicy = Literal["all_or_nothing", "partial_subset", "fractions"]
MULTIPLE_CHOICE_POLICIES: tuple[str, ...] = get_args(MultipleChoicePolicy)

ZERO = Decimal(0)
ONE = Decimal(1)
CENT = Decimal("0.01")
# Moodle stores fractions with 7 decimals (1/3 → 0.3333333): three of them still make a correct answer.
_CORRECT_PRECISION = Decimal("0.000001")
# What separates option letters ("A,C", "A C", "A、C") and blanks written on one line ("山西；北京").
_OPTION_SEPARATORS = re.compile(r"[\s,;、/|]+")
_BLANK_SEPARATOR = re.compile(r"[;]")
# Spaces next to a CJK character (ideographs, kana, CJK punctuation) carry no meaning: "北 京" is "北京"
# and "维生素 C" is "维生素C"; spaces between Latin words still count.
_CJK = "\u2e80-\u2fff\u3000-\u303f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_SPACE = re.compile(f"\\s+(?=[{_CJK}])|(?<=[{_CJK}])\\s+")
_THOUSANDS = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d*)?")
_DECIMAL_COMMA = re.compile(r"[+-]?\d*,\d+")
# A short answer is a word or a phrase: a response longer than this (normalised) is not compared with
# the keys at all (it goes to a teacher or the model), so grading an autosave, which runs while the
# session row is locked, costs the same for every response. The answer itself is stored whole.
SHORT_ANSWER_MATCH_MAX_CHARS = 2_000
# Moodle's wildcard: `*` is any text, `\*` a literal star.
_UNESCAPED_STAR = re.compile(r"(?<!\\)\*")


@dataclass(frozen=True)
class GradeResult:
    """score is None while a person or the model still has to grade (essay); correct is None where there
    is nothing to be right about (essay, description). detail holds JSON-ready facts about the grading."""

    score: Decimal | None
    max_score: Decimal
    correct: bool | None
    detail: dict = field(default_factory=dict)


# A grader's verdict: the fraction of the score earned (clamped to 0..1 afterwards) and detail.
Outcome = tuple[Decimal, dict]


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
    worth = _decimal(question.score if max_score is None else max_score)
    qtype = question.qtype
    if qtype == QuestionType.DESCRIPTION:
        return GradeResult(score=_cents(ZERO), max_score=_cents(ZERO), correct=None, detail={})
    if qtype == QuestionType.ESSAY:
        if is_empty_response(response):  # nothing written: nothing for a teacher or the model to grade
            return GradeResult(score=_cents(ZERO), max_score=_cents(worth), correct=False, detail={"pending": False})
        return GradeResult(score=None, max_score=_cents(worth), correct=None, detail={"pending": True})
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
    fraction = _clamp(fraction)
    correct = fraction.quantize(_CORRECT_PRECISION, rounding=ROUND_HALF_UP) >= ONE
    return GradeResult(score=_cents(worth * fraction), max_score=_cents(worth), correct=correct, detail=detail)


# --- choices --------------------------------------------------------------------------------------


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
    fraction = ONE if in_key else _clamp(_decimal(chosen.get("fraction")))
    return fraction, _with_feedback({"chosen": str(chosen["key"])}, chosen)


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
        correct = {letter for letter, option in letters.items() if _decimal(option.get("fraction")) > 0}
    wrong, missed = chosen - correct, correct - chosen
    detail = {"chosen": sorted(chosen), "wrong": sorted(wrong), "missed": sorted(missed)}
    if policy == "fractions":
        fractions = _multiple_fractions(letters, correct)
        return _clamp(sum((fractions[letter] for letter in chosen), ZERO)), detail
    if chosen == correct and correct:
        return ONE, detail
    if policy == "partial_subset" and chosen and not wrong:
        return _clamp(partial_fraction), detail
    return ZERO, detail


def _multiple_fractions(letters: Mapping[str, Mapping], correct: set[str]) -> dict[str, Decimal]:
    share = ONE / (len(correct) or 1)
    fractions = {
        letter: (share if letter in correct else -share)
        if option.get("fraction") is None
        else _decimal(option.get("fraction"))
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


def _single_choice(question: Question, response, policy: MultipleChoicePolicy) -> Outcome:
    return grade_single_choice(question.options, question.answer, response)


def _multiple_choice(question: Question, response, policy: MultipleChoicePolicy) -> Outcome:
    score = _decimal(question.score)
    if question.partial_score is None or score <= 0:
        partial = Decimal("0.5")
    else:
        partial = _decimal(question.partial_score) / score
    return grade_multiple_choice(question.options, question.answer, response, policy=policy, partial_fraction=partial)


# --- true / false ---------------------------------------------------------------------------------


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


def _true_false(question: Question, response, policy: MultipleChoicePolicy) -> Outcome:
    return grade_true_false(question.answer, response)


# --- fill in the blank ----------------------------------------------------------------------------


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
    accepted = [{_compare_key(answer, sensitive) for answer in blank.get("answers", [])} for blank in blanks]
    keyed: list[str | None] = [_compare_key(text, sensitive) if text else None for text in responses]
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
                "weight": str((weight / weight_sum).quantize(_CORRECT_PRECISION, rounding=ROUND_HALF_UP)),
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
    given = [None if blank.get("score") is None else max(_decimal(blank["score"]), ZERO) for blank in blanks]
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


def _compare_key(text, case_sensitive: bool) -> str:
    """What a typed answer is compared by: normalize_text (NFKC, so full-width is half-width, and
    whitespace collapsed), no spaces beside CJK characters, and casefolded unless case_sensitive."""
    normal = _CJK_SPACE.sub("", normalize_text(str(text)))
    return normal if case_sensitive else normal.casefold()


def _fill_blank(question: Question, response, policy: MultipleChoicePolicy) -> Outcome:
    return grade_fill_blank(question.answer_data or {}, response, total=_decimal(question.score))


# --- numerical ------------------------------------------------------------------------------------


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
            hit = abs(value - _decimal(answer["value"])) <= abs(_decimal(answer.get("tolerance")))
        elif "min" in answer and "max" in answer:
            hit = _decimal(answer["min"]) <= value <= _decimal(answer["max"])
        else:
            hit = False
        fraction = _decimal(answer.get("fraction", 1))
        if hit and (best is None or fraction > best[0]):
            best = (fraction, answer)
    if best is None:
        return ZERO, {"value": str(value), "matched": None}
    detail = _with_feedback({"value": str(value), "matched": _describe_numeric(best[1])}, best[1])
    return _clamp(best[0]), detail


def _describe_numeric(answer: Mapping) -> str:
    if "value" in answer:
        return f"{answer['value']}±{answer.get('tolerance') or 0}"
    return f"{answer['min']}..{answer['max']}"


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


# --- matching -------------------------------------------------------------------------------------


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


def _matching(question: Question, response, policy: MultipleChoicePolicy) -> Outcome:
    return grade_matching((question.answer_data or {}).get("pairs") or [], response)


# --- short answer ---------------------------------------------------------------------------------


def grade_short_answer(answers: Sequence[Mapping], response, *, case_sensitive: bool = False) -> Outcome:
    """The greatest fraction among the accepted answers the response equals after normalize_text,
    case-insensitively unless case_sensitive; in an accepted answer `*` matches any text and `\\*` is a
    literal star (Moodle's wildcard). No match → 0 and detail["needs_review"]: a teacher or the model
    may still give credit. An empty response needs no review; one longer than
    SHORT_ANSWER_MATCH_MAX_CHARS is not compared and needs review (detail["too_long"])."""
    if is_empty_response(response) or not normalize_text(str(response)):
        return ZERO, {"matched": None, "needs_review": False}
    text = _compare_key(response, case_sensitive)
    if len(text) > SHORT_ANSWER_MATCH_MAX_CHARS:
        return ZERO, {"matched": None, "needs_review": True, "too_long": True}
    best: tuple[Decimal, Mapping] | None = None
    for answer in answers:
        fraction = _decimal(answer.get("fraction", 1))
        if wildcard_match(_compare_key(answer.get("text", ""), case_sensitive), text):
            if best is None or fraction > best[0]:
                best = (fraction, answer)
    if best is None:
        return ZERO, {"matched": None, "needs_review": True}
    detail = _with_feedback({"matched": str(best[1].get("text", "")), "needs_review": False}, best[1])
    return _clamp(best[0]), detail


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


def _short_answer(question: Question, response, policy: MultipleChoicePolicy) -> Outcome:
    data = question.answer_data or {}
    answers = data.get("answers") or []
    if not answers and question.answer.strip():
        answers = [{"text": question.answer, "fraction": 1}]
    return grade_short_answer(answers, response, case_sensitive=bool(data.get("case_sensitive", False)))


# --- cloze ----------------------------------------------------------------------------------------


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
    weights = [max(_decimal(sub.get("weight", 1)), ZERO) for sub in subquestions]
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
        fraction = _clamp(fraction)
        earned += weight * fraction
        parts.append({"fraction": str(fraction.quantize(_CORRECT_PRECISION)), **detail})
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


def _cloze(question: Question, response, policy: MultipleChoicePolicy) -> Outcome:
    return grade_cloze((question.answer_data or {}).get("subquestions") or [], response, policy=policy)


# --- shared helpers -------------------------------------------------------------------------------

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


def _decimal(value) -> Decimal:
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


def _clamp(fraction: Decimal) -> Decimal:
    return min(max(fraction, ZERO), ONE)


def _cents(value: Decimal) -> Decimal:
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


def _with_feedback(detail: dict, source: Mapping) -> dict:
    if source.get("feedback"):
        detail["feedback"] = str(source["feedback"])
    return detail
