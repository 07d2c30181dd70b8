"""Moodle XML: a `<quiz>` of `<question type="...">` elements, read with defusedxml only.

A document type with entity declarations (billion laughs) or external entities is refused
as a whole: one RowError "unsafe XML: ..." for the file, nothing imported.

Types and how they land:
- multichoice → single_choice (`<single>true</single>`, the default) or multiple_choice;
  every option keeps its `fraction` (-1..1) and `feedback`; the multiple-choice `answer`
  is the keys with a positive fraction.
- truefalse → true_false; shortanswer → short_answer (`usecase` → case_sensitive, `*` kept
  as Moodle's wildcard answer); numerical → numerical (`tolerance`; `*` answers and units
  are dropped).
- essay, and the aitext plugin → essay: `<graderinfo>` and `<aiprompt>` → grading_instructions,
  `<markscheme>` → rubric (one criterion, or one per line when every line ends in
  "(N points)"), `<sampleresponse>`s → the reference `answer`, `<responsetemplate>` →
  answer_data["response_template"].
- matching → matching (a subquestion with empty text is a distractor).
- gapselect and ddwtos → cloze, each `[[n]]` gap a single_choice dropdown subquestion
  offering the choices of its group: cloze keeps the distractors, fill_blank would lose them.
- multianswer (exported by Moodle as type="cloze") → cloze: each embedded answer
  `{w:TYPE:...}` becomes a subquestion and a `{#n}` marker in the stem. MULTICHOICE/MC and
  its _V/_H/_S variants → single_choice (with "display" and "shuffle"), MULTIRESPONSE/MR
  variants → multiple_choice (fractions normalised as Moodle does), SHORTANSWER/SA/MW and
  SHORTANSWER_C → short_answer, NUMERICAL/NM → numerical.
- description → description.
`<category>` pseudo-questions set the subject of the questions after them (`$course$/top/`
prefixes dropped; their `<info>` is not kept). A question's base64 `<file>`s travel in its record
(`source_files`) for the import to store; their `@@PLUGINFILE@@/...` references stay in the text until then.
`source_row` is the line of `<question>`.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from xml.etree import ElementTree

from defusedxml import DefusedXmlException, EntitiesForbidden, ExternalReferenceForbidden
from defusedxml.ElementTree import DefusedXMLParser

from quizbank.importers.base import ImportSource, ParseStream, QuestionRecord, RowError, parse_bool
from quizbank.importers.moodle_files import embedded_files
from quizbank.importers.registry import Format
from quizbank.models import QuestionType

OPTION_KEYS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
TEXT_FORMATS = {"html": "html", "markdown": "markdown", "plain_text": "plain", "moodle_auto_format": "plain"}

# --- safe XML reading (shared with the QTI importer) ---------------------------------------------


@dataclass
class XmlDocument:
    root: ElementTree.Element
    lines: dict = field(default_factory=dict)  # element → line of its start tag


class _LineTreeBuilder(ElementTree.TreeBuilder):
    """A TreeBuilder that notes the line each element starts on."""

    def __init__(self):
        super().__init__()
        self.expat = None
        self.lines: dict = {}

    def start(self, tag, attrs):
        element = super().start(tag, attrs)
        if self.expat is not None:
            self.lines[element] = self.expat.CurrentLineNumber
        return element


def read_xml(source: ImportSource) -> XmlDocument | RowError:
    """The parsed document, or one RowError for the file when it is unsafe or malformed."""
    name = source.file_name
    builder = _LineTreeBuilder()
    parser = DefusedXMLParser(target=builder)
    builder.expat = getattr(parser, "parser", None)
    if builder.expat is not None:
        builder.expat.StartDoctypeDeclHandler = _refuse_external_doctype
    try:
        parser.feed(source.text())
        root = parser.close()
    except EntitiesForbidden as exc:
        if exc.sysid or exc.pubid:
            what = f"external entity '{exc.name}' ({exc.sysid or exc.pubid})"
        else:
            what = f"entity declaration '{exc.name}'"
        return RowError(name, None, "(xml)", f"unsafe XML: {what} refused; entities are not allowed")
    except ExternalReferenceForbidden as exc:
        return RowError(name, None, "(xml)", f"unsafe XML: external reference {exc.sysid or exc.pubid} refused")
    except DefusedXmlException as exc:
        return RowError(name, None, "(xml)", f"unsafe XML: {exc}")
    except ElementTree.ParseError as exc:
        return RowError(name, exc.position[0], "(xml)", f"invalid XML: {exc}")
    return XmlDocument(root=root, lines=builder.lines)


def _refuse_external_doctype(name, sysid, pubid, has_internal_subset):
    """A document type that points outside the file (`<!DOCTYPE quiz SYSTEM "http://...">`) is refused,
    though expat would not fetch it: a question file has no business naming one."""
    if sysid or pubid:
        raise ExternalReferenceForbidden(None, None, sysid, pubid)


_PROLOG = re.compile(r"\s*(?:<\?.*?\?>\s*|<!--.*?-->\s*|<!DOCTYPE[^\[>]*(?:\[.*?\])?\s*>\s*)*<([\w:.-]+)", re.DOTALL)


def first_element(head: str) -> str:
    """The name of the root element of an XML text (prefix included), or ""."""
    match = _PROLOG.match(head)
    return match.group(1) if match else ""


# --- numbers and shared cloze helpers --------------------------------------------------------------


def number(text) -> float:
    """A finite float from Moodle text ("3,14" too); ValueError otherwise."""
    value = float(str(text).strip().replace(",", "."))
    if not math.isfinite(value):
        raise ValueError(f"{text!r} is not a finite number")
    return value


def fraction_from_percent(text) -> float:
    return round(number(text) / 100, 7)


def plain_number(value) -> int | float:
    """An int when the value is whole (JSON keeps 2 rather than 2.0), else a float."""
    value = float(value)
    return int(value) if value.is_integer() and abs(value) < 1e15 else value


def format_number(value) -> str:
    value = float(value)
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


def option_keys(count: int) -> list[str] | None:
    return list(OPTION_KEYS[:count]) if count <= len(OPTION_KEYS) else None


def cloze_answer(subquestions: list[dict]) -> str:
    """The readable key of a cloze question: each gap's best answer, joined with "；"."""
    parts = []
    for sub in subquestions:
        if sub["type"] == QuestionType.MULTIPLE_CHOICE:
            parts.append(", ".join(o["text"] for o in sub.get("options", []) if (o.get("fraction") or 0) > 0))
            continue
        choices = sub.get("options") or sub.get("answers") or []
        best = max(choices, key=lambda choice: choice.get("fraction") or 0, default=None)
        if best is None:
            parts.append("")
        elif "value" in best:
            parts.append(format_number(best["value"]))
        elif "min" in best:
            parts.append(f"{format_number(best['min'])}..{format_number(best['max'])}")
        else:
            parts.append(str(best.get("text", "")))
    return "；".join(parts)


# --- embedded answers (multianswer / cloze syntax) -------------------------------------------------

# code → (subquestion type, display, shuffle, case_sensitive)
EMBEDDED_TYPES: dict[str, tuple[str, str, bool, bool]] = {}
for _codes, _spec in [
    (("NUMERICAL", "NM"), (QuestionType.NUMERICAL, "", False, False)),
    (("MULTICHOICE", "MC"), (QuestionType.SINGLE_CHOICE, "dropdown", False, False)),
    (("MULTICHOICE_V", "MCV"), (QuestionType.SINGLE_CHOICE, "vertical", False, False)),
    (("MULTICHOICE_H", "MCH"), (QuestionType.SINGLE_CHOICE, "horizontal", False, False)),
    (("MULTICHOICE_S", "MCS"), (QuestionType.SINGLE_CHOICE, "dropdown", True, False)),
    (("MULTICHOICE_VS", "MCVS"), (QuestionType.SINGLE_CHOICE, "vertical", True, False)),
    (("MULTICHOICE_HS", "MCHS"), (QuestionType.SINGLE_CHOICE, "horizontal", True, False)),
    (("MULTIRESPONSE", "MR"), (QuestionType.MULTIPLE_CHOICE, "vertical", False, False)),
    (("MULTIRESPONSE_H", "MRH"), (QuestionType.MULTIPLE_CHOICE, "horizontal", False, False)),
    (("MULTIRESPONSE_S", "MRS"), (QuestionType.MULTIPLE_CHOICE, "vertical", True, False)),
    (("MULTIRESPONSE_HS", "MRHS"), (QuestionType.MULTIPLE_CHOICE, "horizontal", True, False)),
    (("SHORTANSWER", "SA", "MW"), (QuestionType.SHORT_ANSWER, "", False, False)),
    (("SHORTANSWER_C", "SAC", "MWC"), (QuestionType.SHORT_ANSWER, "", False, True)),
]:
    for _code in _codes:
        EMBEDDED_TYPES[_code] = (str(_spec[0]), *_spec[1:])

EMBEDDED = re.compile(
    r"\{(\d*):(" + "|".join(sorted(EMBEDDED_TYPES, key=len, reverse=True)) + r"):((?:\\.|[^\\}])*)\}", re.DOTALL
)
_ALTERNATIVE = re.compile(r"(=|%(-?\d+(?:[.,]\d*)?)%)?(.*)", re.DOTALL)
_NUMBER = r"-?(?:\d+[.,]?\d*|[.,]\d+)(?:[eE][-+]?\d+)?"
_NUMERICAL_ANSWER = re.compile(rf"\s*({_NUMBER})(?::({_NUMBER}))?\s*")


def _unescape_embedded(text: str) -> str:
    text = html.unescape(text)
    return text.replace("\\}", "}").replace("\\#", "#").replace("\\~", "~")


def parse_embedded(match: re.Match) -> dict:
    """One `{w:TYPE:alternatives}` as a cloze subquestion; ValueError says what is wrong."""
    weight_text, code, body = match.groups()
    qtype, display, shuffle, case_sensitive = EMBEDDED_TYPES[code]
    alternatives, specific = [], False
    for raw in re.split(r"(?<!\\)~", body):
        parts = _ALTERNATIVE.fullmatch(raw)
        marker, percent, rest = parts.groups()
        if marker == "=":
            fraction = 1.0
        elif percent is not None:
            fraction = fraction_from_percent(percent)
            # Moodle treats %0% like no weight at all when it normalises multiple responses
            specific = specific or percent not in ("0", "")
        else:
            fraction = 0.0
        # the answer ends at the first "#" that is neither escaped nor part of an entity (&#39;)
        answer, *feedback_part = re.split(r"(?<![\\&])#", rest, maxsplit=1)
        feedback = feedback_part[0] if feedback_part else ""
        answer = _unescape_embedded(answer)
        if not answer.strip():
            raise ValueError(f"{match.group(0)[:60]!r} has an empty answer")
        alternatives.append((answer, fraction, _unescape_embedded(feedback).strip()))
    sub: dict = {"type": qtype, "weight": int(weight_text) if weight_text else 1}
    if qtype == QuestionType.NUMERICAL:
        answers = []
        for answer, fraction, feedback in alternatives:
            if answer.strip() == "*":
                continue
            found = _NUMERICAL_ANSWER.fullmatch(answer)
            if not found:
                raise ValueError(f"{answer!r} in {match.group(0)[:60]!r} is not a number")
            tolerance = abs(number(found.group(2))) if found.group(2) else 0.0
            answers.append(
                {"value": number(found.group(1)), "tolerance": tolerance, "fraction": fraction, "feedback": feedback}
            )
        sub["answers"] = answers
    elif qtype == QuestionType.SHORT_ANSWER:
        sub["case_sensitive"] = case_sensitive
        sub["answers"] = [
            {"text": answer.strip(), "fraction": fraction, "feedback": feedback}
            for answer, fraction, feedback in alternatives
        ]
    else:
        keys = option_keys(len(alternatives))
        if keys is None:
            raise ValueError(f"{match.group(0)[:60]!r} has more than {len(OPTION_KEYS)} choices")
        options = [
            {"key": key, "text": answer.strip(), "fraction": fraction, "feedback": feedback}
            for key, (answer, fraction, feedback) in zip(keys, alternatives, strict=True)
        ]
        if qtype == QuestionType.MULTIPLE_CHOICE:
            _normalise_multiresponse(options, specific=specific)
        sub.update(display=display, shuffle=shuffle, options=options)
    return sub


def _normalise_multiresponse(options: list[dict], *, specific: bool) -> None:
    """Moodle's rule: positive weights add up to 1; without explicit %weights% each wrong
    choice cancels one right one."""
    total = sum(option["fraction"] for option in options if option["fraction"] > 0)
    if not total:
        return
    for option in options:
        if option["fraction"] > 0:
            if abs(total - 1) > 1e-6:
                option["fraction"] = round(option["fraction"] / total, 7)
        elif not specific:
            option["fraction"] = round(-1 / total, 7)


# --- the importer ---------------------------------------------------------------------------------


def sniff(head: str, file_name: str) -> bool:
    return first_element(head) == "quiz"


def parse(source: ImportSource) -> ParseStream:
    name = source.file_name
    document = read_xml(source)
    if isinstance(document, RowError):
        yield document
        return
    root = document.root
    if root.tag != "quiz":
        yield RowError(name, None, "(file)", f"not Moodle XML: the root element is <{root.tag}>, expected <quiz>")
        return
    default_subject = source.subject
    subject = default_subject
    for position, element in enumerate(root.findall("question"), start=1):
        row = document.lines.get(element, position)
        qtype = element.get("type", "").strip()
        if qtype == "category":
            subject = category_subject(_category_path(element)) or default_subject
            continue
        yield _question(element, qtype=qtype, subject=subject, file_name=name, row=row)


def _category_path(element) -> str:
    category = element.find("category")
    if category is None:
        return ""
    return (category.findtext("text") or category.text or "").strip()


def category_subject(path: str) -> str:
    """`$course$/top/数学/函数` → `数学/函数` (Moodle writes a "/" inside a name as "//")."""
    parts = [part.replace("//", "/").strip() for part in re.split(r"(?<!/)/(?!/)", path.strip())]
    parts = [part for part in parts if part]
    while parts and re.fullmatch(r"\$\w+\$", parts[0]):
        parts.pop(0)
    if parts and parts[0] == "top":
        parts.pop(0)
    return "/".join(part.replace("/", "／") for part in parts)


def _text(element, path: str = "text") -> str:
    found = element.find(path) if element is not None else None
    return (found.text or "") if found is not None else ""


def _value(element, tag: str) -> str:
    """A plugin field written either as `<tag>value</tag>` or `<tag><text>value</text></tag>`."""
    found = element.find(tag)
    if found is None:
        return ""
    return (found.findtext("text") or found.text or "").strip()


class _Invalid(Exception):
    def __init__(self, field_name: str, message: str):
        super().__init__(message)
        self.field_name = field_name


def _question(element, *, qtype: str, subject: str, file_name: str, row: int) -> QuestionRecord | RowError:
    reader = _READERS.get(qtype)
    if reader is None:
        message = f"Moodle question type {qtype!r} is not supported" if qtype else "the question has no type"
        return RowError(file_name, row, "type", message)
    questiontext = element.find("questiontext")
    general_feedback = _text(element, "generalfeedback/text").strip()
    stem_format = TEXT_FORMATS.get(questiontext.get("format", "") if questiontext is not None else "", "plain")
    record = QuestionRecord(
        subject=subject,
        qtype=QuestionType.DESCRIPTION,
        stem=_text(questiontext),
        stem_format=stem_format,
        general_feedback=general_feedback,
        explanation=general_feedback,
        tags=[tag.strip() for tag in (t.findtext("text") or "" for t in element.iterfind("tags/tag")) if tag.strip()],
        source_file=file_name,
        source_row=row,
        source_files=embedded_files(element),
    )
    try:
        record.score = _score(element, default=Decimal(0) if qtype == "description" else Decimal(1))
        reader(element, record)
    except _Invalid as exc:
        return RowError(file_name, row, exc.field_name, str(exc))
    return record


def _score(element, *, default: Decimal) -> Decimal:
    text = (element.findtext("defaultgrade") or "").strip()
    if not text:
        return default
    try:
        return score_decimal(text)
    except (InvalidOperation, ValueError):
        raise _Invalid("score", f"defaultgrade {text!r} is not a number") from None


def score_decimal(value) -> Decimal:
    """A score as a Decimal without trailing zeros ("1.0000000" → 1, "2.50" → 2.5)."""
    score = Decimal(str(value).strip())
    if not score.is_finite():
        raise ValueError(f"{value!r} is not a finite number")
    return score.quantize(Decimal(1)) if score == score.to_integral_value() else score.normalize()


def _fraction(answer) -> float:
    text = answer.get("fraction", "0")
    try:
        return fraction_from_percent(text)
    except ValueError:
        raise _Invalid("answer", f"fraction {text!r} is not a number") from None


def _answers(element) -> list[tuple[str, float, str]]:
    return [
        (_text(answer).strip(), _fraction(answer), _text(answer, "feedback/text").strip())
        for answer in element.findall("answer")
    ]


def _multichoice(element, record: QuestionRecord) -> None:
    answers = _answers(element)
    keys = option_keys(len(answers))
    if keys is None:
        raise _Invalid("options", f"{len(answers)} answers; at most {len(OPTION_KEYS)} are supported")
    record.options = [
        {"key": key, "text": text, "fraction": fraction, "feedback": feedback}
        for key, (text, fraction, feedback) in zip(keys, answers, strict=True)
    ]
    single = parse_bool(element.findtext("single", "true")) is not False
    if single:
        record.qtype = QuestionType.SINGLE_CHOICE
        best = max((option["fraction"] for option in record.options), default=0)
        record.answer = next((o["key"] for o in record.options if o["fraction"] == best), "") if best > 0 else ""
    else:
        record.qtype = QuestionType.MULTIPLE_CHOICE
        record.answer = "".join(option["key"] for option in record.options if option["fraction"] > 0)


def _truefalse(element, record: QuestionRecord) -> None:
    record.qtype = QuestionType.TRUE_FALSE
    data = {"feedback_true": "", "feedback_false": ""}
    for text, fraction, feedback in _answers(element):
        value = parse_bool(text)
        if value is None:
            raise _Invalid("answer", f"a true/false answer must be 'true' or 'false', not {text!r}")
        data["feedback_true" if value else "feedback_false"] = feedback
        if fraction > 0:
            record.answer = "true" if value else "false"
    record.answer_data = data


def _shortanswer(element, record: QuestionRecord) -> None:
    record.qtype = QuestionType.SHORT_ANSWER
    answers = [
        {"text": text, "fraction": fraction, "feedback": feedback} for text, fraction, feedback in _answers(element)
    ]
    record.answer_data = {"answers": answers, "case_sensitive": parse_bool(element.findtext("usecase", "0")) is True}
    best = max(answers, key=lambda answer: answer["fraction"], default=None)
    record.answer = best["text"] if best and best["fraction"] > 0 else ""


def _numerical(element, record: QuestionRecord) -> None:
    record.qtype = QuestionType.NUMERICAL
    answers = []
    for answer in element.findall("answer"):
        text = _text(answer).strip()
        if text == "*":  # Moodle's "any other answer", for its feedback only
            continue
        try:
            value = number(text)
            tolerance = abs(number(answer.findtext("tolerance") or "0"))
        except ValueError:
            raise _Invalid("answer", f"{text!r} is not a number") from None
        answers.append(
            {
                "value": value,
                "tolerance": tolerance,
                "fraction": _fraction(answer),
                "feedback": _text(answer, "feedback/text").strip(),
            }
        )
    record.answer_data = {"answers": answers}
    best = max(answers, key=lambda answer: answer["fraction"], default=None)
    record.answer = format_number(best["value"]) if best else ""


_POINTS_SUFFIX = re.compile(r"(.*?)\s*[(（]\s*(-?\d+(?:\.\d+)?)\s*(?:points?|marks?|分)\s*[)）]", re.IGNORECASE)


def rubric_from_markscheme(markscheme: str, score: Decimal) -> list[dict]:
    """One criterion worth the whole score, or one per line when every line ends in "(N points)"."""
    lines = [line.strip() for line in markscheme.splitlines() if line.strip()]
    matches = [_POINTS_SUFFIX.fullmatch(line) for line in lines]
    if lines and all(matches):
        return [
            {"id": str(index), "criterion": match.group(1), "points": plain_number(match.group(2))}
            for index, match in enumerate(matches, start=1)
        ]
    if not lines:
        return []
    return [{"id": "1", "criterion": "\n".join(lines), "points": plain_number(score)}]


def _essay(element, record: QuestionRecord) -> None:
    record.qtype = QuestionType.ESSAY
    instructions = [_text(element, "graderinfo/text").strip(), _value(element, "aiprompt")]
    samples = [(sample.findtext("response") or "").strip() for sample in element.findall("sampleresponse")]
    record.answer = "\n\n".join(sample for sample in samples if sample)
    record.answer_data = {
        "rubric": rubric_from_markscheme(_value(element, "markscheme"), record.score),
        "grading_instructions": "\n\n".join(text for text in instructions if text),
    }
    template = _text(element, "responsetemplate/text").strip()
    if template:
        record.answer_data["response_template"] = template


def _matching(element, record: QuestionRecord) -> None:
    record.qtype = QuestionType.MATCHING
    pairs, distractors = [], []
    for sub in element.findall("subquestion"):
        left = _text(sub).strip()
        right = (sub.findtext("answer/text") or sub.findtext("answer") or "").strip()
        if left:
            pairs.append({"left": left, "right": right})
        elif right:
            distractors.append(right)
    record.answer_data = {"pairs": pairs, "distractors": distractors}


_GAP = re.compile(r"\[\[(\d+)\]\]")


def _gapselect(element, record: QuestionRecord) -> None:
    """gapselect (`<selectoption>`) and ddwtos (`<dragbox>`): gap [[n]] wants choice n, and offers
    every choice of n's group."""
    record.qtype = QuestionType.CLOZE
    tag = "selectoption" if element.get("type") == "gapselect" else "dragbox"
    choices = [(_text(choice).strip(), (choice.findtext("group") or "1").strip()) for choice in element.findall(tag)]
    shuffle = parse_bool(element.findtext("shuffleanswers", "0")) is True
    subquestions: list[dict] = []

    def gap(match: re.Match) -> str:
        wanted = int(match.group(1))
        if not 1 <= wanted <= len(choices):
            raise _Invalid("stem", f"gap [[{wanted}]] names no choice (there are {len(choices)})")
        group = choices[wanted - 1][1]
        offered = [
            (index, text) for index, (text, choice_group) in enumerate(choices, start=1) if choice_group == group
        ]
        keys = option_keys(len(offered))
        if keys is None:
            raise _Invalid("options", f"gap [[{wanted}]] offers more than {len(OPTION_KEYS)} choices")
        options = [
            {"key": key, "text": text, "fraction": 1.0 if index == wanted else 0.0, "feedback": ""}
            for key, (index, text) in zip(keys, offered, strict=True)
        ]
        subquestions.append(
            {
                "type": str(QuestionType.SINGLE_CHOICE),
                "weight": 1,
                "display": "dropdown",
                "shuffle": shuffle,
                "options": options,
            }
        )
        return f"{{#{len(subquestions)}}}"

    record.stem = _GAP.sub(gap, record.stem)
    record.answer_data = {"subquestions": subquestions}
    record.answer = cloze_answer(subquestions)


def _cloze(element, record: QuestionRecord) -> None:
    record.qtype = QuestionType.CLOZE
    subquestions: list[dict] = []

    def embedded(match: re.Match) -> str:
        try:
            subquestions.append(parse_embedded(match))
        except ValueError as exc:
            raise _Invalid("stem", f"embedded answer {len(subquestions) + 1}: {exc}") from None
        return f"{{#{len(subquestions)}}}"

    record.stem = EMBEDDED.sub(embedded, record.stem)
    record.answer_data = {"subquestions": subquestions}
    record.answer = cloze_answer(subquestions)
    if not (element.findtext("defaultgrade") or "").strip():
        record.score = Decimal(sum(sub["weight"] for sub in subquestions) or 1)


def _description(element, record: QuestionRecord) -> None:
    record.qtype = QuestionType.DESCRIPTION


_READERS: dict[str, Callable] = {
    "multichoice": _multichoice,
    "truefalse": _truefalse,
    "shortanswer": _shortanswer,
    "numerical": _numerical,
    "essay": _essay,
    "aitext": _essay,
    "matching": _matching,
    "gapselect": _gapselect,
    "ddwtos": _gapselect,
    "multianswer": _cloze,
    "cloze": _cloze,
    "description": _description,
}

FORMAT = Format(name="moodle-xml", label="Moodle XML", extensions=(".xml",), parse=parse, sniff=sniff)
