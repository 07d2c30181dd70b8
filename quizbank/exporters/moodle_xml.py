"""The bank as Moodle XML, written so that quizbank.importers.moodle_xml reads back the same questions.

A `<question type="category">` (`$course$/top/<subject path>`) precedes each run of questions
of one subject. Types map back as the importer reads them: cloze becomes Moodle's multianswer
(`type="cloze"`, embedded `{w:TYPE:...}` answers); an essay with a rubric or a reference answer
becomes the aitext plugin's type (`<aiprompt>`, `<markscheme>`, `<sampleresponse>`), which
core Moodle has no fields for, and a plain essay stays an essay. Two mappings are one-way:
fill_blank becomes a cloze of SHORTANSWER gaps, and a numerical range min..max becomes its
midpoint with a tolerance. Images in a stem travel inside it as Moodle's `<file>`s.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from xml.etree import ElementTree

from quizbank.exporters.moodle_files import files_embed
from quizbank.images import images_as_text
from quizbank.importers.moodle_xml import EMBEDDED_TYPES, format_number
from quizbank.models import QuestionType

FORMAT_NAMES = {"html": "html", "markdown": "markdown", "plain": "plain_text"}
_XML_INVALID = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_TAG = re.compile(r"<[^>]+>")
_MARKER = re.compile(r"\{#(\d+)\}")
_BLANK = re.compile(r"_{3,}|（[\s　]*）|\([\s　]+\)")


def export(questions: Iterable, out: Path) -> int:
    """Write the questions to `out`; the number written."""
    if hasattr(questions, "select_related"):
        questions = questions.select_related("subject").prefetch_related("tags")
    out.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    subject = None
    with out.open("w", encoding="utf-8") as stream:
        stream.write('<?xml version="1.0" encoding="UTF-8"?>\n<quiz>\n')
        for question in questions:
            path = _subject_path(question)
            if path != subject:
                subject = path
                _write(stream, _category(path))
            _write(stream, question_element(question))
            count += 1
        stream.write("</quiz>\n")
    return count


def _write(stream, element: ElementTree.Element) -> None:
    ElementTree.indent(element, space="  ", level=1)
    stream.write("  " + ElementTree.tostring(element, encoding="unicode") + "\n")


def _subject_path(question) -> str:
    return str(getattr(question.subject, "path", question.subject) or "")


def _tag_names(question) -> list[str]:
    tags = question.tags
    if hasattr(tags, "all"):
        return [tag.name for tag in tags.all()]
    return [str(tag) for tag in tags]


def _clean(text) -> str:
    return _XML_INVALID.sub("", str(text or ""))


def _sub(parent: ElementTree.Element, tag: str, text=None, **attrs) -> ElementTree.Element:
    element = ElementTree.SubElement(parent, tag, {key: str(value) for key, value in attrs.items()})
    if text is not None:
        element.text = _clean(text)
    return element


def _text_field(parent: ElementTree.Element, tag: str, text: str, fmt: str | None = None) -> ElementTree.Element:
    element = _sub(parent, tag, **({"format": fmt} if fmt else {}))
    _sub(element, "text", text)
    return element


def _category(path: str) -> ElementTree.Element:
    question = ElementTree.Element("question", {"type": "category"})
    _text_field(question, "category", "$course$/top/" + "/".join(p.replace("/", "//") for p in path.split("/")))
    return question


def percent(fraction) -> str:
    """Moodle's percentage for a fraction: 1 → "100", 0.3333333 → "33.33333"."""
    text = f"{float(fraction or 0) * 100:.5f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _score(value) -> str:
    return format(Decimal(str(value)).normalize(), "f")


def _name(question) -> str:
    plain = " ".join(html.unescape(_TAG.sub(" ", _MARKER.sub("___", images_as_text(question.stem)))).split())
    return plain[:80] or f"{question.qtype} {getattr(question, 'pk', '') or ''}".strip()


def question_element(question) -> ElementTree.Element:
    writer = _WRITERS.get(str(question.qtype))
    if writer is None:
        raise ValueError(f"question type {question.qtype!r} cannot be written as Moodle XML")
    fmt = FORMAT_NAMES.get(question.stem_format, "plain_text")
    element = ElementTree.Element("question", {"type": "description"})
    _text_field(element, "name", _name(question))
    questiontext = _text_field(element, "questiontext", "", fmt)
    stem = questiontext.find("text")
    _text_field(element, "generalfeedback", question.general_feedback or question.explanation, fmt)
    _sub(element, "defaultgrade", _score(question.score))
    _sub(element, "penalty", "0.3333333")
    _sub(element, "hidden", "0")
    stem.text = files_embed(_clean(writer(question, element, fmt)), questiontext)
    names = _tag_names(question)
    if names:
        tags = _sub(element, "tags")
        for name in names:
            _text_field(tags, "tag", name)
    return element


def _answer(parent, text: str, fraction, feedback: str, fmt: str, **children) -> ElementTree.Element:
    answer = _sub(parent, "answer", fraction=percent(fraction), format=fmt)
    _sub(answer, "text", text)
    for tag, value in children.items():
        _sub(answer, tag, value)
    _text_field(answer, "feedback", feedback or "", fmt)
    return answer


def _choice(question, element, fmt: str) -> str:
    single = question.qtype == QuestionType.SINGLE_CHOICE
    element.set("type", "multichoice")
    _sub(element, "single", "true" if single else "false")
    _sub(element, "shuffleanswers", "true")
    _sub(element, "answernumbering", "ABCD")
    correct = set(question.answer.strip()) if not single else {question.answer.strip()}
    for option in question.options:
        fraction = option.get("fraction")
        if fraction is None:  # a bank without weights: the key decides
            fraction = (1 / len(correct) if correct else 0) if option["key"] in correct else 0
        _answer(element, option["text"], fraction, option.get("feedback", ""), fmt)
    return question.stem


def _true_false(question, element, fmt: str) -> str:
    element.set("type", "truefalse")
    data = question.answer_data or {}
    for value in ("true", "false"):
        fraction = 1 if question.answer == value else 0
        _answer(element, value, fraction, data.get(f"feedback_{value}", ""), "moodle_auto_format")
    return question.stem


def _short_answer(question, element, fmt: str) -> str:
    element.set("type", "shortanswer")
    data = question.answer_data or {}
    _sub(element, "usecase", "1" if data.get("case_sensitive") else "0")
    answers = data.get("answers") or [{"text": question.answer, "fraction": 1.0, "feedback": ""}]
    for answer in answers:
        _answer(element, answer["text"], answer.get("fraction", 1.0), answer.get("feedback", ""), "moodle_auto_format")
    return question.stem


def _value_and_tolerance(answer: dict) -> tuple[float, float]:
    if "value" in answer:
        return float(answer["value"]), float(answer.get("tolerance") or 0)
    low, high = float(answer["min"]), float(answer["max"])
    return (low + high) / 2, (high - low) / 2


def _numerical(question, element, fmt: str) -> str:
    element.set("type", "numerical")
    for answer in (question.answer_data or {}).get("answers", []):
        value, tolerance = _value_and_tolerance(answer)
        _answer(
            element,
            format_number(value),
            answer.get("fraction", 1.0),
            answer.get("feedback", ""),
            "moodle_auto_format",
            tolerance=format_number(tolerance),
        )
    return question.stem


def markscheme(rubric: list[dict], score) -> str:
    """The rubric as the importer reads it back: one bare criterion worth the whole score, or one
    "criterion (N points)" per line."""
    if len(rubric) == 1 and float(rubric[0].get("points") or 0) == float(score):
        return str(rubric[0]["criterion"])
    return "\n".join(f"{item['criterion']} ({format_number(item.get('points') or 0)} points)" for item in rubric)


def _essay(question, element, fmt: str) -> str:
    data = question.answer_data or {}
    rubric = data.get("rubric") or []
    uses_plugin = bool(rubric or question.answer.strip())
    element.set("type", "aitext" if uses_plugin else "essay")
    _sub(element, "responseformat", "editor")
    _sub(element, "responserequired", "1")
    _sub(element, "responsefieldlines", "15")
    _sub(element, "attachments", "0")
    _sub(element, "attachmentsrequired", "0")
    instructions = data.get("grading_instructions", "")
    _text_field(element, "graderinfo", "" if uses_plugin else instructions, "html")
    _text_field(element, "responsetemplate", data.get("response_template", ""), "html")
    if uses_plugin:
        _sub(element, "aiprompt", instructions)
        _sub(element, "markscheme", markscheme(rubric, question.score))
        if question.answer.strip():
            sample = _sub(element, "sampleresponse")
            _sub(sample, "response", question.answer)
    return question.stem


def _matching(question, element, fmt: str) -> str:
    element.set("type", "matching")
    _sub(element, "shuffleanswers", "true")
    data = question.answer_data or {}
    rows = [(pair["left"], pair["right"]) for pair in data.get("pairs", [])]
    rows += [("", distractor) for distractor in data.get("distractors", [])]
    for left, right in rows:
        sub = _text_field(element, "subquestion", left, fmt)
        _text_field(sub, "answer", right)
    return question.stem


def _escape_embedded(text) -> str:
    text = html.escape(str(text), quote=False)
    return text.replace("}", "\\}").replace("#", "\\#").replace("~", "\\~")


def _alternative(text: str, fraction, feedback: str, *, explicit: bool) -> str:
    fraction = float(fraction or 0)
    if explicit and fraction:
        prefix = f"%{percent(fraction)}%"
    elif fraction == 1:
        prefix = "="
    elif fraction == 0:
        prefix = ""
    else:
        prefix = f"%{percent(fraction)}%"
    return prefix + text + (f"#{_escape_embedded(feedback)}" if feedback else "")


# (type, display, shuffle, case_sensitive) → the long code of Moodle's embedded answer syntax
_EMBEDDED_CODES: dict[tuple, str] = {}
for _code, _spec in EMBEDDED_TYPES.items():
    _EMBEDDED_CODES.setdefault(_spec, _code)


def embedded_weight(value) -> int:
    """Moodle's embedded answers take whole weights only."""
    return max(1, round(float(value or 1)))


def embedded_answer(sub: dict) -> str:
    """One cloze subquestion in Moodle's `{weight:TYPE:alternatives}` syntax."""
    kind = sub.get("type")
    if kind == QuestionType.NUMERICAL:
        alternatives = []
        for answer in sub.get("answers", []):
            value, tolerance = _value_and_tolerance(answer)
            text = f"{format_number(value)}:{format_number(tolerance)}"
            alternatives.append(
                _alternative(text, answer.get("fraction", 1.0), answer.get("feedback", ""), explicit=False)
            )
        code = "NUMERICAL"
    elif kind == QuestionType.SHORT_ANSWER:
        alternatives = [
            _alternative(
                _escape_embedded(answer["text"]),
                answer.get("fraction", 1.0),
                answer.get("feedback", ""),
                explicit=False,
            )
            for answer in sub.get("answers", [])
            if str(answer.get("text", "")).strip()
        ]
        code = "SHORTANSWER_C" if sub.get("case_sensitive") else "SHORTANSWER"
    elif kind in (QuestionType.SINGLE_CHOICE, QuestionType.MULTIPLE_CHOICE):
        multiple = kind == QuestionType.MULTIPLE_CHOICE
        shuffle = bool(sub.get("shuffle"))
        code = (
            _EMBEDDED_CODES.get((str(kind), sub.get("display"), shuffle, False))
            or _EMBEDDED_CODES[(str(kind), "vertical" if multiple else "dropdown", shuffle, False)]
        )
        # explicit weights keep Moodle from giving wrong responses a negative weight
        alternatives = [
            _alternative(
                _escape_embedded(option["text"]),
                option.get("fraction", 0),
                option.get("feedback", ""),
                explicit=multiple,
            )
            for option in sub.get("options", [])
        ]
    else:
        raise ValueError(f"a cloze subquestion of type {kind!r} cannot be written as Moodle XML")
    return f"{{{embedded_weight(sub.get('weight'))}:{code}:{'~'.join(alternatives)}}}"


def _cloze(question, element, fmt: str) -> str:
    element.set("type", "cloze")
    subquestions = (question.answer_data or {}).get("subquestions", [])
    return cloze_stem(question.stem, [embedded_answer(sub) for sub in subquestions])


def cloze_stem(stem: str, embedded: list[str]) -> str:
    """The stem with each {#n} marker replaced by its embedded answer; unplaced answers go at the end."""
    placed: set[int] = set()

    def replace(match: re.Match) -> str:
        index = int(match.group(1))
        if 1 <= index <= len(embedded):
            placed.add(index)
            return embedded[index - 1]
        return match.group(0)

    text = _MARKER.sub(replace, stem)
    rest = [answer for index, answer in enumerate(embedded, start=1) if index not in placed]
    return " ".join([text, *rest]) if rest else text


def _fill_blank(question, element, fmt: str) -> str:
    element.set("type", "cloze")
    data = question.answer_data or {}
    code = "SHORTANSWER_C" if data.get("case_sensitive") else "SHORTANSWER"
    embedded = [
        f"{{{embedded_weight(blank.get('score'))}:{code}:"
        + "~".join("=" + _escape_embedded(answer) for answer in blank.get("answers", []) if str(answer).strip())
        + "}"
        for blank in data.get("blanks", [])
    ]
    blanks = iter(range(1, len(embedded) + 1))
    stem = _BLANK.sub(lambda match: f"{{#{next(blanks, 0)}}}", question.stem) if embedded else question.stem
    return cloze_stem(stem.replace("{#0}", "____"), embedded)


def _description(question, element, fmt: str) -> str:
    element.set("type", "description")
    return question.stem


_WRITERS = {
    "single_choice": _choice,
    "multiple_choice": _choice,
    "true_false": _true_false,
    "short_answer": _short_answer,
    "numerical": _numerical,
    "essay": _essay,
    "matching": _matching,
    "cloze": _cloze,
    "fill_blank": _fill_blank,
    "description": _description,
}
