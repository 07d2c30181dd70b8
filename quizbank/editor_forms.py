"""The question editor's form: every question type in plain fields a teacher can type, read into the
shapes the bank keeps (options, the key, answer_data: see quizbank/importers/base.py) and back.

What a field does not show is kept from the question being edited: an option's feedback, a blank's
score, an essay's grading examples, true/false feedback."""

from __future__ import annotations

import json
import re
from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

from quizbank.importers.base import parse_bool
from quizbank.models import Question, QuestionType

STEM_FORMATS = [("markdown", "Markdown"), ("plain", _("Plain text")), ("html", "HTML")]
# The fields each type shows besides the ones every type has (the page hides the others).
TYPE_FIELDS = {
    QuestionType.SINGLE_CHOICE: ("options", "answer"),
    QuestionType.MULTIPLE_CHOICE: ("options", "answer", "partial_score"),
    QuestionType.TRUE_FALSE: ("truth",),
    QuestionType.FILL_BLANK: ("blanks", "order_free", "case_sensitive"),
    QuestionType.NUMERICAL: ("numeric_answers",),
    QuestionType.MATCHING: ("pairs",),
    QuestionType.SHORT_ANSWER: ("accepted_answers", "case_sensitive"),
    QuestionType.ESSAY: ("answer", "rubric", "grading_instructions"),
    QuestionType.CLOZE: ("answer_data_json",),
    QuestionType.DESCRIPTION: (),
}
TYPED_FIELDS = (
    "options", "answer", "truth", "partial_score", "blanks", "order_free", "accepted_answers", "case_sensitive",
    "numeric_answers", "pairs", "rubric", "grading_instructions", "answer_data_json",
)  # fmt: skip

_OPTION = re.compile(r"^\s*([A-Za-z])\s*[.．、:：)]\s*(.*)$")
_WEIGHT = re.compile(r"\s*@\s*(-?\d+(?:\.\d+)?)\s*%\s*$")
_NUMBER = r"-?\d+(?:\.\d+)?(?:[eE]-?\d+)?"
_RANGE = re.compile(rf"^({_NUMBER})\s*\.\.\s*({_NUMBER})$")
_TOLERANCE = re.compile(rf"^({_NUMBER})\s*(?:±|\+-|\+/-|:)\s*({_NUMBER})$")
_LIST_SEPARATORS = re.compile(r"[,，;；]")


def _area(rows: int, help_text: str = "", **kwargs) -> forms.CharField:
    return forms.CharField(
        required=False, strip=False, help_text=help_text, widget=forms.Textarea(attrs={"rows": rows}), **kwargs
    )


def _lines(text: str) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def _weight(line: str) -> tuple[str, float]:
    """`text @50%` → ("text", 0.5); no weight: 1.0."""
    match = _WEIGHT.search(line)
    if not match:
        return line, 1.0
    return line[: match.start()].strip(), float(match.group(1)) / 100


def _weight_text(fraction) -> str:
    fraction = float(fraction if fraction is not None else 1)
    return "" if fraction == 1 else f" @{fraction * 100:g}%"


class QuestionEditorForm(forms.Form):
    subject = forms.CharField(max_length=500, label=_("Subject"), help_text=_("A path such as 数学/函数"))
    qtype = forms.ChoiceField(choices=QuestionType.choices, label=_("Type"))
    stem_format = forms.ChoiceField(choices=STEM_FORMATS, label=_("Text format"), initial="markdown")
    stem = forms.CharField(
        max_length=20_000, strip=False, label=_("Question"), widget=forms.Textarea(attrs={"rows": 8})
    )
    options = _area(6, _("One option per line, e.g. “A. 北京”."), label=_("Options"))
    answer = _area(2, _("Choice: the letters of the right options (B, AC). Essay: a reference answer."))
    answer.label = _("Answer")
    truth = forms.ChoiceField(required=False, label=_("Answer"), choices=[("true", _("True")), ("false", _("False"))])
    blanks = _area(4, _("One blank per line; answers accepted for it separated by |, e.g. 山西 | 山西省 | 晋."))
    blanks.label = _("Blanks")
    order_free = forms.BooleanField(required=False, label=_("Blanks may be answered in any order"))
    case_sensitive = forms.BooleanField(required=False, label=_("Case sensitive"))
    numeric_answers = _area(3, _("One per line: 3.14 ± 0.01, or a range 1..5; add @50% for part marks."))
    numeric_answers.label = _("Numeric answers")
    pairs = _area(5, _("One pair per line: left => right. A line “=> right” is a distractor."))
    pairs.label = _("Matching pairs")
    accepted_answers = _area(4, _("One accepted answer per line; add @50% for part marks; * is a wildcard."))
    accepted_answers.label = _("Accepted answers")
    rubric = _area(4, _("One criterion per line: criterion | points."))
    rubric.label = _("Rubric")
    grading_instructions = _area(3, label=_("Grading instructions"))
    answer_data_json = _area(8, _("The gaps' answers as JSON (see the import format)."), label=_("Cloze gaps"))
    explanation = _area(4, label=_("Explanation"))
    general_feedback = _area(2, label=_("General feedback"))
    score = forms.DecimalField(max_digits=6, decimal_places=2, min_value=0, initial=1, label=_("Score"))
    partial_score = forms.DecimalField(
        max_digits=6, decimal_places=2, min_value=0, required=False, label=_("Partial score (correct subset)")
    )
    difficulty = forms.IntegerField(min_value=1, max_value=5, required=False, label=_("Difficulty (1–5)"))
    tags = forms.CharField(required=False, label=_("Tags"), help_text=_("Separated by commas"))
    knowledge_points = forms.CharField(required=False, label=_("Knowledge points"), help_text=_("Separated by commas"))

    def __init__(self, *args, base: Question | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.base = base

    def clean_answer_data_json(self) -> dict:
        text = self.cleaned_data.get("answer_data_json", "").strip()
        if not text or self.cleaned_data.get("qtype") != QuestionType.CLOZE:
            return {}
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(_("Not valid JSON: %(error)s") % {"error": exc.msg}) from exc
        if not isinstance(value, dict):
            raise forms.ValidationError(_('Give a JSON object such as {"subquestions": [...]}.'))
        return value

    def question_data(self) -> dict:
        """The cleaned form as the data question_create / question_update take."""
        data = self.cleaned_data
        qtype = data["qtype"]
        kept = dict(self.base.answer_data or {}) if self.base is not None and self.base.qtype == qtype else {}
        result = {
            "subject": data["subject"].strip(),
            "qtype": qtype,
            "stem": data["stem"],
            "stem_format": data["stem_format"],
            "explanation": data["explanation"].strip(),
            "general_feedback": data["general_feedback"].strip(),
            "score": data["score"],
            "partial_score": data["partial_score"] if qtype == QuestionType.MULTIPLE_CHOICE else None,
            "difficulty": data["difficulty"],
            "tags": _names(data["tags"]),
            "knowledge_points": _names(data["knowledge_points"]),
            "options": [],
            "answer": "",
            "answer_data": {},
        }
        result.update(_TYPE_READERS.get(qtype, _nothing)(data, kept, self.base))
        return result


def _names(text: str) -> list[str]:
    return list(dict.fromkeys(name.strip() for name in _LIST_SEPARATORS.split(text or "") if name.strip()))


def _nothing(data: dict, kept: dict, base: Question | None) -> dict:
    return {}


def _choice(data: dict, kept: dict, base: Question | None) -> dict:
    old = {str(option.get("key")): option for option in (base.options if base is not None else [])}
    options = []
    for line in _lines(data["options"]):
        match = _OPTION.match(line)
        key = match.group(1).upper() if match else "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[len(options) % 26]
        text = match.group(2).strip() if match else line
        option = {"key": key, "text": text}
        if key in old and old[key].get("feedback"):
            option["feedback"] = old[key]["feedback"]
        options.append(option)
    answer = re.sub(r"[^A-Za-z]", "", data["answer"]).upper()
    if data["qtype"] == QuestionType.MULTIPLE_CHOICE:
        answer = "".join(key for key in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if key in answer)
    return {"options": options, "answer": answer}


def _true_false(data: dict, kept: dict, base: Question | None) -> dict:
    feedback = {key: kept[key] for key in ("feedback_true", "feedback_false") if kept.get(key)}
    return {"answer": data["truth"] or "", "answer_data": feedback}


def _fill_blank(data: dict, kept: dict, base: Question | None) -> dict:
    old = kept.get("blanks") or []
    blanks = []
    for index, line in enumerate(_lines(data["blanks"])):
        blank: dict = {"answers": [answer.strip() for answer in line.split("|") if answer.strip()]}
        if index < len(old) and old[index].get("score") is not None:
            blank["score"] = old[index]["score"]
        blanks.append(blank)
    answer = "；".join(blank["answers"][0] for blank in blanks if blank["answers"])
    answer_data = {"blanks": blanks, "order_free": data["order_free"], "case_sensitive": data["case_sensitive"]}
    return {"answer": answer, "answer_data": answer_data}


def _number(text: str) -> int | float:
    value = float(text)
    return int(value) if value.is_integer() and "e" not in text.lower() and "." not in text else value


def _numerical(data: dict, kept: dict, base: Question | None) -> dict:
    answers: list[dict] = []
    for line in _lines(data["numeric_answers"]):
        text, fraction = _weight(line)
        text = text.replace(" ", "")
        if match := _RANGE.match(text):
            answers.append({"min": _number(match.group(1)), "max": _number(match.group(2)), "fraction": fraction})
        elif match := _TOLERANCE.match(text):
            value, tolerance = _number(match.group(1)), _number(match.group(2))
            answers.append({"value": value, "tolerance": tolerance, "fraction": fraction})
        else:
            try:
                answers.append({"value": _number(text), "tolerance": 0, "fraction": fraction})
            except ValueError:
                answers.append({"value": text, "fraction": fraction})  # validation names the line
    first = answers[0] if answers else {}
    answer = f"{first['min']}..{first['max']}" if "min" in first else str(first.get("value", ""))
    return {"answer": answer, "answer_data": {"answers": answers}}


def _matching(data: dict, kept: dict, base: Question | None) -> dict:
    pairs, distractors = [], []
    for line in _lines(data["pairs"]):
        left, separator, right = line.partition("=>")
        if not separator:
            left, separator, right = line.partition("->")
        if left.strip():
            pairs.append({"left": left.strip(), "right": right.strip()})
        elif right.strip():
            distractors.append(right.strip())
    return {"answer_data": {"pairs": pairs, "distractors": distractors}}


def _short_answer(data: dict, kept: dict, base: Question | None) -> dict:
    old = {str(answer.get("text")): answer for answer in kept.get("answers") or []}
    answers = []
    for line in _lines(data["accepted_answers"]):
        text, fraction = _weight(line)
        answer = {"text": text, "fraction": fraction}
        if old.get(text, {}).get("feedback"):
            answer["feedback"] = old[text]["feedback"]
        answers.append(answer)
    best = max(answers, key=lambda answer: answer["fraction"], default={"text": ""})
    answer_data = {"answers": answers, "case_sensitive": data["case_sensitive"]}
    return {"answer": best["text"], "answer_data": answer_data}


def _essay(data: dict, kept: dict, base: Question | None) -> dict:
    old_ids = [str(criterion.get("id")) for criterion in kept.get("rubric") or []]
    rubric = []
    for index, line in enumerate(_lines(data["rubric"])):
        criterion, _separator, points = line.rpartition("|")
        if not criterion:
            criterion, points = points, "1"
        try:
            value = Decimal(points.strip())
        except ArithmeticError:
            value = Decimal(0)
        number = int(value) if value == value.to_integral_value() else float(value)
        rubric_id = old_ids[index] if index < len(old_ids) else f"c{index + 1}"
        rubric.append({"id": rubric_id, "criterion": criterion.strip(), "points": number})
    answer_data = {key: value for key, value in kept.items() if key not in ("rubric", "grading_instructions")}
    if rubric:
        answer_data["rubric"] = rubric
    if data["grading_instructions"].strip():
        answer_data["grading_instructions"] = data["grading_instructions"].strip()
    return {"answer": data["answer"].strip(), "answer_data": answer_data}


def _cloze(data: dict, kept: dict, base: Question | None) -> dict:
    from quizbank.importers.moodle_xml import cloze_answer

    answer_data = data["answer_data_json"]
    return {"answer": cloze_answer(answer_data.get("subquestions") or []), "answer_data": answer_data}


_TYPE_READERS = {
    QuestionType.SINGLE_CHOICE: _choice,
    QuestionType.MULTIPLE_CHOICE: _choice,
    QuestionType.TRUE_FALSE: _true_false,
    QuestionType.FILL_BLANK: _fill_blank,
    QuestionType.NUMERICAL: _numerical,
    QuestionType.MATCHING: _matching,
    QuestionType.SHORT_ANSWER: _short_answer,
    QuestionType.ESSAY: _essay,
    QuestionType.CLOZE: _cloze,
}


def editor_initial(question: Question) -> dict:
    """The form's fields filled from a question (the inverse of question_data)."""
    data = question.answer_data or {}
    initial = {
        "subject": question.subject.path,
        "qtype": question.qtype,
        "stem_format": question.stem_format,
        "stem": question.stem,
        "answer": question.answer,
        "explanation": question.explanation,
        "general_feedback": question.general_feedback,
        "score": question.score,
        "partial_score": question.partial_score,
        "difficulty": question.difficulty,
        "tags": ", ".join(question.tags.values_list("name", flat=True)),
        "knowledge_points": ", ".join(question.knowledge_points.values_list("name", flat=True)),
        "options": "\n".join(f"{option['key']}. {option.get('text', '')}" for option in question.options),
        "truth": question.answer if question.answer in ("true", "false") else "",
        "blanks": "\n".join(" | ".join(map(str, blank.get("answers") or [])) for blank in data.get("blanks") or []),
        "order_free": bool(data.get("order_free")),
        "case_sensitive": bool(data.get("case_sensitive")),
        "numeric_answers": "\n".join(_numeric_line(answer) for answer in data.get("answers") or [])
        if question.qtype == QuestionType.NUMERICAL
        else "",
        "pairs": "\n".join(
            [f"{pair['left']} => {pair['right']}" for pair in data.get("pairs") or []]
            + [f"=> {right}" for right in data.get("distractors") or []]
        ),
        "accepted_answers": "\n".join(
            f"{answer.get('text', '')}{_weight_text(answer.get('fraction'))}" for answer in data.get("answers") or []
        )
        if question.qtype == QuestionType.SHORT_ANSWER
        else "",
        "rubric": "\n".join(
            f"{item.get('criterion', '')} | {item.get('points', '')}" for item in data.get("rubric") or []
        ),
        "grading_instructions": data.get("grading_instructions", ""),
        "answer_data_json": json.dumps(data, ensure_ascii=False, indent=2)
        if question.qtype == QuestionType.CLOZE
        else "",
    }
    if question.qtype == QuestionType.TRUE_FALSE:
        truth = parse_bool(question.answer)
        initial["truth"] = "" if truth is None else str(truth).lower()
    return initial


def _numeric_line(answer: dict) -> str:
    weight = _weight_text(answer.get("fraction"))
    if "min" in answer:
        return f"{answer['min']}..{answer['max']}{weight}"
    tolerance = answer.get("tolerance") or 0
    return f"{answer.get('value', '')}{f' ± {tolerance}' if tolerance else ''}{weight}"
