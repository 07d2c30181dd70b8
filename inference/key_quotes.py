"""Whether a model's text gives away a question's key, and a line filter for streamed text.

The model is shown the key (the reference answer, the rubric) to grade or explain, so it can quote it
back. Texts are compared normalised (NFKC, case-folded, letters and digits only): a long key counts as
quoted when any QUOTE_CHARS characters of it in a row appear in the text; a short key (2 to
QUOTE_CHARS - 1 characters) when all of it does. Single characters are too common to match by
substring; an option letter is matched as a standalone token instead.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from quizbank.models import Question, QuestionType

QUOTE_CHARS = 8
# A line that states the key: "答案：B", as the model was trained to write it first.
_ANSWER_LINE = re.compile(r"^\W*(?:正确)?答案\W*(?:[：:]|是|为|应)")
CHOICE_TYPES = (QuestionType.SINGLE_CHOICE, QuestionType.MULTIPLE_CHOICE)


def normalised(text: str) -> str:
    text = unicodedata.normalize("NFKC", str(text)).casefold()
    return "".join(char for char in text if unicodedata.category(char)[0] in "LN")


@dataclass(frozen=True)
class KeyText:
    """A question's key as it is matched: `phrases` normalised (long ones by their runs, short ones
    whole), `letters` option letters matched as standalone tokens."""

    phrases: tuple[str, ...] = ()
    letters: tuple[str, ...] = ()

    @classmethod
    def of(cls, texts: Iterable[str], *, short: bool = True, letters: Iterable[str] = ()) -> KeyText:
        phrases = []
        for text in texts:
            value = normalised(text)
            if len(value) >= QUOTE_CHARS or (short and len(value) >= 2):
                phrases.append(value)
        return cls(tuple(dict.fromkeys(phrases)), tuple(dict.fromkeys(letter.upper() for letter in letters)))

    def __or__(self, other: KeyText) -> KeyText:
        return KeyText(
            tuple(dict.fromkeys(self.phrases + other.phrases)), tuple(dict.fromkeys(self.letters + other.letters))
        )

    def quoted_in(self, text: str) -> bool:
        value = normalised(text)
        for phrase in self.phrases:
            if len(phrase) < QUOTE_CHARS:
                if phrase in value:
                    return True
            elif any(phrase[start : start + QUOTE_CHARS] in value for start in range(len(phrase) - QUOTE_CHARS + 1)):
                return True
        upper = unicodedata.normalize("NFKC", text).upper()
        return any(re.search(rf"(?<![A-Z]){letter}(?![A-Z])", upper) for letter in self.letters)


def grading_key(question: Question) -> KeyText:
    """What the grader is shown of the key: the reference answer and accepted answers (short ones whole
    too), the rubric's criteria and the grading instructions (long runs only: a criterion's few words,
    such as 论点明确, are what feedback is expected to name)."""
    data = question.answer_data or {}
    answers = [question.answer] + [str(entry.get("text", "")) for entry in data.get("answers") or [] if entry]
    rubric = [str(entry.get("criterion", "")) for entry in data.get("rubric") or [] if isinstance(entry, dict)]
    rubric.append(str(data.get("grading_instructions") or ""))
    return KeyText.of(answers) | KeyText.of(rubric, short=False)


def question_key(question: Question) -> KeyText:
    """A question's right answer in every form an explanation could state it: the key, the right options'
    text (and their letters), blanks' and short answers' accepted texts."""
    data = question.answer_data or {}
    texts: list[str] = []
    letters: list[str] = []
    if question.qtype in CHOICE_TYPES:
        letters = [char for char in question.answer.upper() if "A" <= char <= "Z"]
        texts += [str(option.get("text", "")) for option in question.options if option.get("key") in letters]
    elif question.qtype != QuestionType.TRUE_FALSE:  # true/false: the key follows from "wrong" alone
        texts.append(question.answer)
    texts += [str(entry.get("text", "")) for entry in data.get("answers") or [] if isinstance(entry, dict)]
    for blank in data.get("blanks") or []:
        texts += [str(text) for text in (blank.get("answers") or [])]
    texts += [str(pair.get("right", "")) for pair in data.get("pairs") or [] if isinstance(pair, dict)]
    return KeyText.of(texts, letters=letters)


def states_key(line: str, key: KeyText) -> bool:
    """A line that states the answer (答案：…) or quotes the key."""
    return bool(_ANSWER_LINE.match(line)) or key.quoted_in(line)


class KeyLineFilter:
    """Streamed text with the lines that state or quote the key left out. A line is decided once it is
    complete, so a key split over several pieces is caught: `feed` returns the complete lines that pass,
    `flush` the last one."""

    def __init__(self, key: KeyText):
        self.key = key
        self._line = ""

    def feed(self, piece: str) -> str:
        *complete, self._line = (self._line + piece).split("\n")
        return "".join(f"{line}\n" for line in complete if not states_key(line, self.key))

    def flush(self) -> str:
        line, self._line = self._line, ""
        return "" if states_key(line, self.key) else line

    def text(self, whole: str) -> str:
        """A whole text filtered at once."""
        return self.feed(whole) + self.flush()
