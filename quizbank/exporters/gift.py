"""The bank as a GIFT file that Moodle (and quizbank.importers.gift) read back as the same questions.

Each subject starts a `$CATEGORY:` paragraph; each question is a `// question: id` comment
(plus `// [tag:x]` lines) and the question, with its answer block in the gap (`_____`) when
the stem has one in the middle. Cloze questions and fill-in-the-blank questions with more
than one blank cannot be written in GIFT and are left out.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path

from django.db.models import QuerySet

from quizbank.importers.gift import GAP, TEXT_FORMATS, escape, format_number
from quizbank.models import Question, QuestionType


def export(questions: Iterable[Question], out: Path) -> int:
    """Write the questions GIFT can express; return how many were written."""
    if isinstance(questions, QuerySet):
        questions = questions.select_related("subject").prefetch_related("tags")
    written = 0
    category = None
    with out.open("w", encoding="utf-8", newline="\n") as handle:
        for question in questions:
            text = question_gift(question)
            if text is None:
                continue
            if question.subject.path != category:
                category = question.subject.path
                handle.write(f"$CATEGORY: {category}\n\n")
            handle.write(f"// question: {question.pk}\n")
            for tag in question.tags.all() if question.pk else []:
                handle.write(f"// [tag:{tag.name}]\n")
            handle.write(text + "\n\n")
            written += 1
    return written


def question_gift(question: Question) -> str | None:
    """One question in GIFT, or None when GIFT cannot express it."""
    fmt = question.stem_format if question.stem_format in ("html", "markdown") else "plain"
    block = _answer_block(question, fmt)
    if block is None and question.qtype != QuestionType.DESCRIPTION:
        return None
    stem = question.stem
    marker = "" if fmt == "plain" else f"[{fmt}]"
    if not marker and _needs_marker(stem):
        marker = "[plain]"
    if block is None:
        return marker + escape(stem)
    gap = stem.find(GAP)
    if gap >= 0 and stem[gap + len(GAP) :].strip():
        # A gap with text after it: the block goes there, and reads back as the same gap.
        return marker + escape(stem[:gap]) + block + escape(stem[gap + len(GAP) :])
    return marker + escape(stem) + " " + block


def _needs_marker(text: str) -> bool:
    """Text that would otherwise read as a format marker or a comment line."""
    stripped = text.lstrip()
    return stripped.startswith("//") or any(stripped.startswith(f"[{name}]") for name in TEXT_FORMATS)


def _part(text: str, fmt: str) -> str:
    """An option or feedback text (in the question's format unless it says otherwise)."""
    return (f"[{fmt}]" if _needs_marker(text) else "") + escape(text.strip())


def _weight(fraction) -> str:
    """0.5 → "50", exactly as the importer reads it back."""
    percent = (Decimal(repr(float(fraction))) * 100).normalize()
    return f"{percent:f}"


def _fraction(answer: dict) -> float:
    """An accepted answer's weight; a missing one means full marks."""
    fraction = answer.get("fraction")
    return 1.0 if fraction is None else fraction


def _feedback(text: str, fmt: str) -> str:
    return f"#{_part(text, fmt)}" if text and text.strip() else ""


def _general_feedback(question: Question, fmt: str) -> str:
    text = question.general_feedback or question.explanation
    return f"\t####{_part(text, fmt)}\n" if text and text.strip() else ""


def _answer_block(question: Question, fmt: str) -> str | None:
    writer = _WRITERS.get(question.qtype)
    if writer is None:
        return None
    lines = writer(question, fmt)
    if lines is None:
        return None
    opener = "{#\n" if question.qtype == QuestionType.NUMERICAL else "{\n"
    return opener + "".join(f"\t{line}\n" for line in lines) + _general_feedback(question, fmt) + "}"


def _single_choice(question: Question, fmt: str) -> list[str]:
    lines = []
    for option in question.options:
        fraction = option.get("fraction") or 0
        text = _part(option["text"], fmt)
        if option["key"] == question.answer:
            prefix = "="
        elif fraction or text.startswith("%"):
            prefix = f"~%{_weight(fraction)}%"
        else:
            prefix = "~"
        lines.append(prefix + text + _feedback(option.get("feedback", ""), fmt))
    return lines


def _multiple_choice(question: Question, fmt: str) -> list[str]:
    fractions = [option.get("fraction") or 0 for option in question.options]
    correct = [option["key"] for option in question.options if option["key"] in question.answer]
    if not any(fraction > 0 for fraction in fractions) and correct:
        # No weights stored: the right options share the full mark.
        fractions = [1 / len(correct) if option["key"] in correct else 0 for option in question.options]
    # Every option gets an explicit weight and none an `=`, which would make it single choice.
    return [
        f"~%{_weight(fraction)}%" + _part(option["text"], fmt) + _feedback(option.get("feedback", ""), fmt)
        for option, fraction in zip(question.options, fractions, strict=True)
    ]


def _true_false(question: Question, fmt: str) -> list[str]:
    data = question.answer_data or {}
    is_true = question.answer == "true"
    right = data.get("feedback_true" if is_true else "feedback_false") or ""
    wrong = data.get("feedback_false" if is_true else "feedback_true") or ""
    line = "TRUE" if is_true else "FALSE"
    if wrong or right:
        line += f"#{_part(wrong, fmt)}"
    if right:
        line += f"#{_part(right, fmt)}"
    return [line]


def _short_answer(question: Question, fmt: str) -> list[str] | None:
    answers = (question.answer_data or {}).get("answers") or []
    if not answers and question.answer.strip():
        answers = [{"text": question.answer, "fraction": 1.0}]
    lines = [
        f"=%{_weight(_fraction(answer))}%"
        + _part(str(answer["text"]), fmt)
        + _feedback(answer.get("feedback", ""), fmt)
        for answer in answers
    ]
    # `->` in an answer block without `~` would make it read as matching.
    return None if any("->" in line for line in lines) else lines


def _fill_blank(question: Question, fmt: str) -> list[str] | None:
    blanks = (question.answer_data or {}).get("blanks") or []
    if len(blanks) != 1:
        return None
    lines = [f"=%100%{escape(str(answer).strip())}" for answer in blanks[0].get("answers", []) if str(answer).strip()]
    return None if any("->" in line for line in lines) else lines


def _numerical(question: Question, fmt: str) -> list[str] | None:
    data = question.answer_data or {}
    lines = []
    for answer in data.get("answers", []):
        if "min" in answer:
            value = f"{format_number(answer['min'])}..{format_number(answer['max'])}"
        else:
            value = f"{format_number(answer['value'])}:{format_number(answer.get('tolerance') or 0)}"
        lines.append(f"=%{_weight(_fraction(answer))}%{value}" + _feedback(answer.get("feedback", ""), fmt))
    if not lines:
        return None
    if data.get("wrong_feedback"):
        lines.append(f"~#{_part(data['wrong_feedback'], fmt)}")
    return lines


def _matching(question: Question, fmt: str) -> list[str] | None:
    data = question.answer_data or {}
    pairs = [(pair["left"], pair["right"]) for pair in data.get("pairs", [])]
    pairs += [("", right) for right in data.get("distractors", [])]
    if any("->" in left for left, _ in pairs):
        return None
    return [f"={_part(left, fmt)} -> {escape(right.strip())}" for left, right in pairs]


def _essay(question: Question, fmt: str) -> list[str]:
    return []


_WRITERS = {
    QuestionType.SINGLE_CHOICE: _single_choice,
    QuestionType.MULTIPLE_CHOICE: _multiple_choice,
    QuestionType.TRUE_FALSE: _true_false,
    QuestionType.SHORT_ANSWER: _short_answer,
    QuestionType.FILL_BLANK: _fill_blank,
    QuestionType.NUMERICAL: _numerical,
    QuestionType.MATCHING: _matching,
    QuestionType.ESSAY: _essay,
}
