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

The rules live one module per kind: choices, blanks, numbers, short_answer, compound (matching and
cloze); `grade` (questions.py) applies the right one to a question.
"""

from quizbank.grading.base import MULTIPLE_CHOICE_POLICIES, MultipleChoicePolicy, is_empty_response
from quizbank.grading.blanks import grade_fill_blank
from quizbank.grading.choices import grade_multiple_choice, grade_single_choice, grade_true_false
from quizbank.grading.compound import grade_cloze, grade_matching
from quizbank.grading.numbers import grade_numerical, parse_number
from quizbank.grading.questions import GradeResult, grade
from quizbank.grading.short_answer import SHORT_ANSWER_MATCH_MAX_CHARS, grade_short_answer, wildcard_match

__all__ = [
    "MULTIPLE_CHOICE_POLICIES",
    "SHORT_ANSWER_MATCH_MAX_CHARS",
    "GradeResult",
    "MultipleChoicePolicy",
    "grade",
    "grade_cloze",
    "grade_fill_blank",
    "grade_matching",
    "grade_multiple_choice",
    "grade_numerical",
    "grade_short_answer",
    "grade_single_choice",
    "grade_true_false",
    "is_empty_response",
    "parse_number",
    "wildcard_match",
]
