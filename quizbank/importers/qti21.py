"""IMS QTI 2.1 items: one `<assessmentItem>` per file, read with defusedxml only.

The stem is the item body as HTML, each block interaction replaced by its `<prompt>`. Scores
come from the response declarations: a `<mapping>` gives partial credit (normalised by its
upperBound, else by the best mapped total), `<correctResponse>` alone gives all or nothing;
the item's score is SCORE's normalMaximum when declared, else the sum of those maxima.

- choiceInteraction → single_choice (maxChoices 1 and a single response) or multiple_choice;
  options keyed A, B, C... in document order, each with its `fraction` (unmapped choices get
  the mapping's defaultValue) and any `<feedbackInline>` as its feedback.
- extendedTextInteraction → essay; a `<rubricBlock>` for scorers or tutors leaves the stem
  and becomes the grading_instructions (as plain text).
- matchInteraction → matching: the correct directed pairs, unused targets as distractors.
- textEntryInteraction only → fill_blank (blanks `_____`, every mapped answer worth the full
  mark), short_answer (one entry whose mapping gives partial credit, fractions kept), else cloze.
- inlineChoiceInteraction and gapMatchInteraction → cloze: each inline choice or gap a
  single_choice subquestion, so the offered words are kept (fill_blank would drop them);
  a gap's weight is its mapped value. gapText's matchMax (use each word once) is not kept.
- every other interaction (order, associate, hotspot, ...) → a RowError for the file,
  e.g. "order interactions are not supported"; an item without one is a description.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from xml.etree import ElementTree

from quizbank.importers.base import ImportSource, ParseStream, QuestionRecord, RowError
from quizbank.importers.moodle_xml import (
    cloze_answer,
    first_element,
    option_keys,
    plain_number,
    read_xml,
    score_decimal,
)
from quizbank.importers.registry import Format
from quizbank.models import QuestionType

QTI_NAMESPACES = ("http://www.imsglobal.org/xsd/imsqti_v2p1", "http://www.imsglobal.org/xsd/imsqti_v2p2")
BLOCK_INTERACTIONS = {"choiceInteraction", "extendedTextInteraction", "matchInteraction"}
GAP_INTERACTIONS = {"textEntryInteraction", "inlineChoiceInteraction", "gapMatchInteraction"}
SCORER_VIEWS = {"scorer", "tutor"}
BLANK = "_____"
_SPACE = re.compile(r"\s+")


def sniff(head: str, file_name: str) -> bool:
    return first_element(head).rpartition(":")[2] == "assessmentItem" and any(ns in head for ns in QTI_NAMESPACES)


class _Unsupported(Exception):
    def __init__(self, field_name: str, message: str):
        super().__init__(message)
        self.field_name = field_name


@dataclass
class Response:
    """A responseDeclaration: the correct values and the mapping's credit."""

    cardinality: str = "single"
    correct: list[str] = field(default_factory=list)
    mapping: dict[str, float] = field(default_factory=dict)
    case_sensitive: bool = True
    default_value: float = 0.0
    upper_bound: float | None = None

    @property
    def maximum(self) -> float:
        if not self.mapping:
            return 1.0
        if self.upper_bound is not None:
            return self.upper_bound
        values = self.mapping.values()
        best = max(values) if self.cardinality == "single" else sum(v for v in values if v > 0)
        return best if best > 0 else 1.0

    def credit(self, key: str) -> float:
        """The fraction (-1..1) of this response's maximum that `key` earns."""
        if self.mapping:
            value = self.mapping.get(key, self.default_value)
        elif key in self.correct:
            value = 1.0 if self.cardinality == "single" else 1 / len(self.correct)
        else:
            value = 0.0
        return round(max(-1.0, min(1.0, value / self.maximum)), 7)


def parse(source: ImportSource) -> ParseStream:
    name = source.file_name
    document = read_xml(source)
    if isinstance(document, RowError):
        yield document
        return
    root = document.root
    namespace, _, tag = root.tag[1:].partition("}") if root.tag.startswith("{") else ("", "", root.tag)
    if tag != "assessmentItem" or (namespace and namespace not in QTI_NAMESPACES):
        yield RowError(
            name,
            None,
            "(file)",
            f"not a QTI 2.1 item: the root element is <{root.tag}>, "
            "expected <assessmentItem> in the imsqti_v2p1 namespace",
        )
        return
    _strip_namespaces(root)
    try:
        yield _item(root, file_name=name, subject=source.subject)
    except _Unsupported as exc:
        yield RowError(name, 1, exc.field_name, str(exc))


def _strip_namespaces(root: ElementTree.Element) -> None:
    for element in root.iter():
        if isinstance(element.tag, str) and element.tag.startswith("{"):
            element.tag = element.tag.partition("}")[2]
        for key in [key for key in element.attrib if key.startswith("{")]:
            del element.attrib[key]


def _number(text, what: str) -> float:
    try:
        value = float(str(text).strip())
    except ValueError:
        raise _Unsupported("responseDeclaration", f"{what} {text!r} is not a number") from None
    return value


def _responses(root) -> dict[str, Response]:
    responses = {}
    for declaration in root.findall("responseDeclaration"):
        response = Response(cardinality=declaration.get("cardinality", "single"))
        response.correct = [(value.text or "").strip() for value in declaration.findall("correctResponse/value")]
        mapping = declaration.find("mapping")
        if mapping is not None:
            response.default_value = _number(mapping.get("defaultValue", "0"), "defaultValue")
            if mapping.get("upperBound") is not None:
                response.upper_bound = _number(mapping.get("upperBound"), "upperBound")
            for entry in mapping.findall("mapEntry"):
                key = entry.get("mapKey", "")
                if declaration.get("baseType") in ("pair", "directedPair"):
                    key = " ".join(key.split())
                response.mapping[key] = _number(entry.get("mappedValue", "0"), "mappedValue")
                if entry.get("caseSensitive", "true").strip().lower() == "false":
                    response.case_sensitive = False
        responses[declaration.get("identifier", "")] = response
    return responses


def _inner_html(element) -> str:
    """The content of an element as HTML (its own tag and tail left out)."""
    parts = [element.text or ""]
    parts += [ElementTree.tostring(child, encoding="unicode", method="html") for child in element]
    return _SPACE.sub(" ", "".join(parts)).strip()


_BLOCK_TAGS = frozenset("p div h1 h2 h3 h4 h5 h6 ul ol li blockquote table tr pre br".split())


def _plain_text(element) -> str:
    """Readable text of a block of HTML: one line per paragraph, "- " before list items."""
    chunks: list[str] = []

    def walk(node) -> None:
        if node.tag in _BLOCK_TAGS:
            chunks.append("\n- " if node.tag == "li" else "\n")
        chunks.append(node.text or "")
        for child in node:
            walk(child)
            chunks.append(child.tail or "")
        if node.tag in _BLOCK_TAGS:
            chunks.append("\n")

    chunks.append(element.text or "")
    for child in element:
        walk(child)
        chunks.append(child.tail or "")
    lines = (" ".join(line.split()) for line in "".join(chunks).splitlines())
    return "\n".join(line for line in lines if line)


class _Body:
    """The item body, edited in place: interactions replaced by markers or prompts."""

    def __init__(self, body: ElementTree.Element):
        self.body = body
        self.parents = {child: parent for parent in body.iter() for child in parent}

    def replace_with_text(self, element, text: str) -> None:
        parent = self.parents[element]
        index = list(parent).index(element)
        text += element.tail or ""
        if index == 0:
            parent.text = (parent.text or "") + text
        else:
            previous = parent[index - 1]
            previous.tail = (previous.tail or "") + text
        parent.remove(element)

    def replace_with_element(self, element, new) -> None:
        parent = self.parents[element]
        new.tail = element.tail
        parent.insert(list(parent).index(element), new)
        parent.remove(element)
        self.parents[new] = parent
        for child in new.iter():
            for grandchild in child:
                self.parents[grandchild] = child

    def replace_with_prompt(self, element) -> None:
        prompt = element.find("prompt")
        if prompt is None:
            self.replace_with_text(element, "")
            return
        paragraph = copy.deepcopy(prompt)
        paragraph.tag = "p"
        paragraph.attrib.clear()
        self.replace_with_element(element, paragraph)

    def html(self) -> str:
        return _inner_html(self.body)


def _item(root, *, file_name: str, subject: str) -> QuestionRecord:
    responses = _responses(root)
    body = root.find("itemBody")
    if body is None:
        raise _Unsupported("itemBody", "the item has no itemBody")
    interactions = [element for element in body.iter() if element.tag.endswith("Interaction")]
    kinds = {element.tag for element in interactions}
    unsupported = sorted(kinds - BLOCK_INTERACTIONS - GAP_INTERACTIONS)
    if unsupported:
        names = ", ".join(kind.removesuffix("Interaction") for kind in unsupported)
        raise _Unsupported("interaction", f"{names} interactions are not supported")
    blocks = [element for element in interactions if element.tag in BLOCK_INTERACTIONS]
    if blocks and len(interactions) > 1:
        listed = ", ".join(element.tag for element in interactions)
        raise _Unsupported("interaction", f"items combining several interactions ({listed}) are not supported")

    record = QuestionRecord(
        subject=subject,
        qtype=QuestionType.DESCRIPTION,
        stem="",
        stem_format="html",
        source_file=file_name,
        source_row=1,
    )
    editor = _Body(body)
    instructions = []
    for rubric in [element for element in body.iter("rubricBlock")]:
        if SCORER_VIEWS & set(rubric.get("view", "").split()):
            instructions.append(_plain_text(rubric))
            editor.replace_with_text(rubric, "")
    for feedback in [element for element in body.iter() if element.tag in ("feedbackBlock", "modalFeedback")]:
        editor.replace_with_text(feedback, "")

    maximum = 0.0
    if blocks:
        interaction = blocks[0]
        response = _response(responses, interaction)
        maximum = response.maximum
        if interaction.tag == "choiceInteraction":
            _choice(record, interaction, response)
        elif interaction.tag == "matchInteraction":
            _match(record, interaction, response)
        else:
            record.qtype = QuestionType.ESSAY
            record.answer = " ".join(response.correct)
            record.answer_data = {"rubric": [], "grading_instructions": "\n\n".join(instructions)}
        editor.replace_with_prompt(interaction)
    elif interactions:
        maximum = _gaps(record, interactions, responses, editor)
    for feedback in [element for element in body.iter("feedbackInline")]:
        editor.replace_with_text(feedback, "")
    record.stem = editor.html()
    record.score = _score(root, maximum)
    return record


def _response(responses: dict[str, Response], interaction) -> Response:
    identifier = interaction.get("responseIdentifier", "")
    if identifier not in responses:
        raise _Unsupported("responseDeclaration", f"{interaction.tag} names an undeclared response {identifier!r}")
    return responses[identifier]


def _score(root, maximum: float) -> Decimal:
    for outcome in root.findall("outcomeDeclaration"):
        if outcome.get("identifier") == "SCORE" and outcome.get("normalMaximum"):
            try:
                return score_decimal(outcome.get("normalMaximum"))
            except (InvalidOperation, ValueError):
                raise _Unsupported("score", f"normalMaximum {outcome.get('normalMaximum')!r} is not a number") from None
    return score_decimal(round(maximum, 4)) if maximum > 0 else Decimal(1)


def _choice_text(choice) -> tuple[str, str]:
    """The text of a simpleChoice or inlineChoice, and its inline feedback."""
    choice = copy.deepcopy(choice)
    feedback = []
    for inline in choice.findall("feedbackInline"):
        feedback.append(_inner_html(inline))
        _Body(choice).replace_with_text(inline, "")
    return _inner_html(choice), " ".join(feedback)


def _options(choices: list, response: Response) -> list[dict]:
    keys = option_keys(len(choices))
    if keys is None:
        raise _Unsupported("options", f"{len(choices)} choices; at most 26 are supported")
    options = []
    for key, choice in zip(keys, choices, strict=True):
        text, feedback = _choice_text(choice)
        options.append(
            {"key": key, "text": text, "fraction": response.credit(choice.get("identifier", "")), "feedback": feedback}
        )
    return options


def _choice(record: QuestionRecord, interaction, response: Response) -> None:
    choices = interaction.findall("simpleChoice")
    record.options = _options(choices, response)
    identifiers = [choice.get("identifier", "") for choice in choices]
    key_of = dict(zip(identifiers, (option["key"] for option in record.options), strict=True))
    single = interaction.get("maxChoices", "1").strip() == "1" and response.cardinality == "single"
    correct = [key_of[value] for value in response.correct if value in key_of]
    if single:
        record.qtype = QuestionType.SINGLE_CHOICE
        best = max(record.options, key=lambda option: option["fraction"])
        record.answer = correct[0] if correct else (best["key"] if best["fraction"] > 0 else "")
    else:
        record.qtype = QuestionType.MULTIPLE_CHOICE
        chosen = set(correct) or {option["key"] for option in record.options if option["fraction"] > 0}
        record.answer = "".join(option["key"] for option in record.options if option["key"] in chosen)


def _match(record: QuestionRecord, interaction, response: Response) -> None:
    record.qtype = QuestionType.MATCHING
    sets = interaction.findall("simpleMatchSet")
    if len(sets) != 2:
        raise _Unsupported("interaction", f"a match interaction needs two simpleMatchSets, found {len(sets)}")
    sources, targets = (
        {c.get("identifier"): _choice_text(c)[0] for c in s.findall("simpleAssociableChoice")} for s in sets
    )
    pairs_wanted = response.correct or [key for key, value in response.mapping.items() if value > 0]
    pairs = []
    for pair in pairs_wanted:
        left, _, right = " ".join(pair.split()).partition(" ")
        if left in sources and right in targets:
            pairs.append({"left": sources[left], "right": targets[right]})
    used = {pair["right"] for pair in pairs}
    record.answer_data = {"pairs": pairs, "distractors": [text for text in targets.values() if text not in used]}


def _gaps(record: QuestionRecord, interactions: list, responses: dict[str, Response], editor: _Body) -> float:
    """Inline interactions and gap matches: fill_blank, short_answer or cloze; the item's maximum."""
    entries = [element for element in interactions if element.tag == "textEntryInteraction"]
    if len(entries) == len(interactions):
        entry_responses = [_response(responses, entry) for entry in entries]
        partial = [r for r in entry_responses if any(0 < v < r.maximum for v in r.mapping.values())]
        if not partial:
            return _fill_blank(record, entries, entry_responses, editor)
        if len(entries) == 1:
            return _short_answer(record, entries[0], entry_responses[0], editor)
    return _cloze(record, interactions, responses, editor)


def _accepted(response: Response) -> list[tuple[str, float]]:
    """Each accepted text with its fraction: the correct values first, then the mapped ones."""
    seen, accepted = set(), []
    for text in response.correct + list(response.mapping):
        if text not in seen:
            seen.add(text)
            accepted.append((text, response.credit(text) if response.mapping else 1.0))
    return accepted


def _fill_blank(record, entries, entry_responses, editor: _Body) -> float:
    record.qtype = QuestionType.FILL_BLANK
    blanks = []
    for entry, response in zip(entries, entry_responses, strict=True):
        answers = [text for text, fraction in _accepted(response) if fraction >= 1]
        blanks.append({"answers": answers, "score": plain_number(response.maximum)})
        editor.replace_with_text(entry, BLANK)
    record.answer_data = {
        "blanks": blanks,
        "order_free": False,
        "case_sensitive": all(response.case_sensitive for response in entry_responses),
    }
    record.answer = "；".join(blank["answers"][0] if blank["answers"] else "" for blank in blanks)
    return sum(response.maximum for response in entry_responses)


def _short_answer(record, entry, response: Response, editor: _Body) -> float:
    record.qtype = QuestionType.SHORT_ANSWER
    answers = [{"text": text, "fraction": fraction, "feedback": ""} for text, fraction in _accepted(response)]
    record.answer_data = {"answers": answers, "case_sensitive": response.case_sensitive}
    best = max(answers, key=lambda answer: answer["fraction"], default=None)
    record.answer = best["text"] if best and best["fraction"] > 0 else ""
    editor.replace_with_text(entry, BLANK)
    return response.maximum


def _cloze(record, interactions, responses: dict[str, Response], editor: _Body) -> float:
    record.qtype = QuestionType.CLOZE
    subquestions: list[dict] = []
    maximum = 0.0

    def marker() -> str:
        return f"{{#{len(subquestions)}}}"

    for interaction in interactions:
        response = _response(responses, interaction)
        if interaction.tag == "textEntryInteraction":
            subquestions.append(
                {
                    "type": str(QuestionType.SHORT_ANSWER),
                    "weight": plain_number(response.maximum),
                    "case_sensitive": response.case_sensitive,
                    "answers": [{"text": t, "fraction": f, "feedback": ""} for t, f in _accepted(response) if f > 0],
                }
            )
            maximum += response.maximum
            editor.replace_with_text(interaction, marker())
        elif interaction.tag == "inlineChoiceInteraction":
            subquestions.append(
                {
                    "type": str(QuestionType.SINGLE_CHOICE),
                    "weight": plain_number(response.maximum),
                    "display": "dropdown",
                    "shuffle": interaction.get("shuffle", "false") == "true",
                    "options": _options(interaction.findall("inlineChoice"), response),
                }
            )
            maximum += response.maximum
            editor.replace_with_text(interaction, marker())
        else:
            maximum += _gap_match(interaction, response, subquestions, editor)
    record.answer_data = {"subquestions": subquestions}
    record.answer = cloze_answer(subquestions)
    return maximum


def _gap_match(interaction, response: Response, subquestions: list[dict], editor: _Body) -> float:
    """Each gap a single_choice of every gapText; its weight the credit of its correct pair."""
    words = interaction.findall("gapText")
    wanted = {}
    for pair in response.correct or [key for key, value in response.mapping.items() if value > 0]:
        word, _, gap = " ".join(pair.split()).partition(" ")
        wanted.setdefault(gap, word)
    keys = option_keys(len(words))
    if keys is None:
        raise _Unsupported("options", f"{len(words)} gap texts; at most 26 are supported")
    maximum = 0.0
    for gap in [element for element in interaction.iter("gap")]:
        gap_id = gap.get("identifier", "")
        correct = wanted.get(gap_id, "")
        weight = response.mapping.get(f"{correct} {gap_id}", 1.0) if response.mapping else 1.0
        options = []
        for key, word in zip(keys, words, strict=True):
            word_id = word.get("identifier", "")
            if response.mapping:
                value = response.mapping.get(f"{word_id} {gap_id}", 0.0)
                fraction = round(max(-1.0, min(1.0, value / weight)), 7) if weight > 0 else 0.0
            else:
                fraction = 1.0 if word_id == correct else 0.0
            options.append({"key": key, "text": _choice_text(word)[0], "fraction": fraction, "feedback": ""})
        subquestions.append(
            {
                "type": str(QuestionType.SINGLE_CHOICE),
                "weight": plain_number(weight),
                "display": "dropdown",
                "shuffle": interaction.get("shuffle", "false") == "true",
                "options": options,
            }
        )
        maximum += weight
        editor.replace_with_text(gap, f"{{#{len(subquestions)}}}")
    for word in words:
        editor.replace_with_text(word, "")
    prompt = interaction.find("prompt")
    if prompt is not None:
        prompt.tag = "p"
    container = ElementTree.Element("div")
    container.text = interaction.text
    for child in list(interaction):
        container.append(child)
    editor.replace_with_element(interaction, container)
    return maximum


FORMAT = Format(name="qti21", label="IMS QTI 2.1 item", extensions=(".xml",), parse=parse, sniff=sniff)
