"""IMS QTI 2.1 items: the IMS spec examples one by one, the interactions that are refused,
and unsafe XML."""

from decimal import Decimal
from pathlib import Path

import pytest

from quizbank.exporters.moodle_xml import export
from quizbank.importers import BankImportError, detect_format, iter_file, parse_file
from quizbank.importers.base import QuestionRecord, RowError
from quizbank.models import Question, QuestionType
from quizbank.services import bank_import
from tests.conftest import SHARED

pytestmark = pytest.mark.skipif(not (SHARED / "formats").is_dir(), reason="../shared/formats is absent")

QTI = SHARED / "formats" / "qti21"
NAMESPACE = "http://www.imsglobal.org/xsd/imsqti_v2p1"

# One assessmentItem per file; order.xml holds an orderInteraction, which is refused.
EXPECTED_COUNTS = {
    "choice.xml": 1,
    "choice_multiple.xml": 1,
    "extended_text.xml": 1,
    "extended_text_rubric.xml": 1,
    "gap_match.xml": 1,
    "inline_choice.xml": 1,
    "match.xml": 1,
    "order.xml": 0,
    "text_entry.xml": 1,
}


def only(name: str) -> QuestionRecord:
    (record,) = parse_file(QTI / name)
    return record


def item(tmp_path: Path, declarations: str, body: str, name: str = "item.xml") -> Path:
    path = tmp_path / name
    path.write_text(
        f'<?xml version="1.0" encoding="UTF-8"?>\n<assessmentItem xmlns="{NAMESPACE}" identifier="x" title="x" '
        f'adaptive="false" timeDependent="false">{declarations}<itemBody>{body}</itemBody></assessmentItem>',
        encoding="utf-8",
    )
    return path


def text_response(identifier: str, *values: str, mapping: str = "") -> str:
    correct = "".join(f"<value>{value}</value>" for value in values)
    return (
        f'<responseDeclaration identifier="{identifier}" cardinality="single" baseType="string">'
        f"<correctResponse>{correct}</correctResponse>{mapping}</responseDeclaration>"
    )


# --- the shared files ------------------------------------------------------------------------


def test_every_shared_qti_file_has_an_expected_count():
    assert {path.name for path in QTI.glob("*.xml")} == set(EXPECTED_COUNTS)


@pytest.mark.parametrize("name", sorted(EXPECTED_COUNTS))
def test_shared_file_is_detected_and_gives_its_items(name):
    path = QTI / name
    assert detect_format(path).name == "qti21"
    items = list(iter_file(path))
    records = [item for item in items if isinstance(item, QuestionRecord)]
    assert len(records) == EXPECTED_COUNTS[name]
    assert len(items) == 1  # the record, or the one error saying why not


def test_choice():
    record = only("choice.xml")
    assert (record.qtype, record.answer, record.score) == (QuestionType.SINGLE_CHOICE, "A", Decimal(1))
    assert [(o["key"], o["fraction"]) for o in record.options] == [("A", 1.0), ("B", 0.0), ("C", 0.0)]
    assert record.options[0]["text"] == "You must stay with your luggage at all times."
    assert record.stem_format == "html"
    assert record.stem.startswith("<p>Look at the text in the picture.</p>")
    assert 'alt="NEVER LEAVE LUGGAGE UNATTENDED"' in record.stem
    assert record.stem.endswith("<p>What does it say?</p>")
    assert "choiceInteraction" not in record.stem and "simpleChoice" not in record.stem
    assert (record.subject, record.source_row) == ("未分类/choice", 1)


def test_choice_multiple_with_a_partial_credit_mapping():
    record = only("choice_multiple.xml")
    assert record.qtype == QuestionType.MULTIPLE_CHOICE
    assert record.answer == "AD"
    # mapped values over the upperBound (2); unmapped choices get the defaultValue (-2)
    assert [(o["text"], o["fraction"]) for o in record.options] == [
        ("Hydrogen", 0.5),
        ("Helium", -1.0),
        ("Carbon", -1.0),
        ("Oxygen", 0.5),
        ("Nitrogen", -1.0),
        ("Chlorine", -0.5),
    ]
    assert record.score == Decimal(2)
    assert record.stem == "<p>Which of the following elements are used to form water?</p>"


def test_text_entry_with_partial_credit_is_a_short_answer():
    record = only("text_entry.xml")
    assert record.qtype == QuestionType.SHORT_ANSWER
    assert record.answer == "York"
    assert record.answer_data == {
        "answers": [
            {"text": "York", "fraction": 1.0, "feedback": ""},
            {"text": "york", "fraction": 0.5, "feedback": ""},
        ],
        "case_sensitive": True,
    }
    assert "Made glorious summer by this sun of _____;" in record.stem


def test_extended_text_is_an_essay():
    record = only("extended_text.xml")
    assert record.qtype == QuestionType.ESSAY
    assert record.answer_data == {"rubric": [], "grading_instructions": ""}
    assert "Here is a postcard of my town." in record.stem
    assert record.stem.endswith("<p>Write Sam a postcard. Answer the questions. Write 25-35 words.</p>")


def test_scorer_rubric_becomes_grading_instructions_and_leaves_the_stem():
    record = only("extended_text_rubric.xml")
    assert record.qtype == QuestionType.ESSAY
    assert record.answer_data["grading_instructions"] == "\n".join(
        [
            "Scoring Guidelines",
            "Max Score: 3.0 points",
            "Scoring:",
            "- When not all 3 questions are answered in the response: -1 for each missing.",
            "- Check for gramatical errors: -0.1 per error.",
            "- Possibly add in .1 increments extra bonus points for extra good answers.",
        ]
    )
    assert "Scoring Guidelines" not in record.stem
    assert record.stem == only("extended_text.xml").stem


def test_match():
    record = only("match.xml")
    assert record.qtype == QuestionType.MATCHING
    assert record.answer_data == {
        "pairs": [
            {"left": "Capulet", "right": "Romeo and Juliet"},
            {"left": "Demetrius", "right": "A Midsummer-Night's Dream"},
            {"left": "Lysander", "right": "A Midsummer-Night's Dream"},
            {"left": "Prospero", "right": "The Tempest"},
        ],
        "distractors": [],
    }
    assert record.score == Decimal(3)  # 1 + 0.5 + 0.5 + 1


def test_inline_choice_is_a_cloze_keeping_the_choices():
    record = only("inline_choice.xml")
    assert record.qtype == QuestionType.CLOZE
    assert "Made glorious summer by this sun of {#1};" in record.stem
    (sub,) = record.answer_data["subquestions"]
    assert (sub["type"], sub["weight"], sub["display"]) == ("single_choice", 1, "dropdown")
    assert [(o["text"], o["fraction"]) for o in sub["options"]] == [
        ("Gloucester", 0.0),
        ("Lancaster", 0.0),
        ("York", 1.0),
    ]
    assert record.answer == "York"


def test_gap_match_is_a_cloze_weighted_by_the_mapping():
    record = only("gap_match.xml")
    assert record.qtype == QuestionType.CLOZE
    assert "Now is the {#1} of our discontent" in record.stem and "Made glorious {#2} by this sun" in record.stem
    assert "<p>Identify the missing words in this famous quote from Shakespeare's Richard III.</p>" in record.stem
    assert "spring" not in record.stem
    first, second = record.answer_data["subquestions"]
    assert [o["text"] for o in first["options"]] == ["winter", "spring", "summer", "autumn"]
    assert [o["text"] for o in first["options"] if o["fraction"] == 1.0] == ["winter"]
    assert [o["text"] for o in second["options"] if o["fraction"] == 1.0] == ["summer"]
    assert (first["weight"], second["weight"]) == (1, 2)
    assert record.answer == "winter；summer"
    assert record.score == Decimal(3)


def test_order_interaction_is_a_clear_error():
    (error,) = list(iter_file(QTI / "order.xml"))
    assert isinstance(error, RowError)
    assert (error.file, error.field, error.message) == (
        "order.xml",
        "interaction",
        "order interactions are not supported",
    )
    with pytest.raises(BankImportError, match="order interactions are not supported"):
        parse_file(QTI / "order.xml")


@pytest.mark.django_db
def test_a_folder_of_items_imports_all_but_the_order_item():
    paths = sorted(QTI.glob("*.xml"))
    report = bank_import(paths=paths, skip_invalid=True)
    assert report.created == sum(EXPECTED_COUNTS.values())
    assert [(error.file, error.field) for error in report.errors] == [("order.xml", "interaction")]
    assert Question.objects.filter(qtype=QuestionType.CLOZE).count() == 2


# --- the rest, inline ------------------------------------------------------------------------


def test_several_text_entries_without_partial_credit_are_a_fill_blank(tmp_path):
    declarations = text_response("A", "Beijing") + text_response(
        "B",
        "Jin",
        mapping='<mapping defaultValue="0"><mapEntry mapKey="Jin" mappedValue="2"/>'
        '<mapEntry mapKey="Shanxi" mappedValue="2" caseSensitive="false"/></mapping>',
    )
    body = (
        '<p>The capital is <textEntryInteraction responseIdentifier="A"/> and Shanxi is '
        '<textEntryInteraction responseIdentifier="B"/>.</p>'
    )
    (record,) = parse_file(item(tmp_path, declarations, body))
    assert record.qtype == QuestionType.FILL_BLANK
    assert record.stem == "<p>The capital is _____ and Shanxi is _____.</p>"
    assert record.answer_data == {
        "blanks": [{"answers": ["Beijing"], "score": 1}, {"answers": ["Jin", "Shanxi"], "score": 2}],
        "order_free": False,
        "case_sensitive": False,
    }
    assert record.answer == "Beijing；Jin"
    assert record.score == Decimal(3)


def test_text_entry_and_inline_choice_together_are_a_cloze(tmp_path):
    declarations = (
        text_response(
            "A",
            "York",
            mapping='<mapping defaultValue="0"><mapEntry mapKey="York" mappedValue="1"/>'
            '<mapEntry mapKey="york" mappedValue="0.5"/></mapping>',
        )
        + '<responseDeclaration identifier="B" cardinality="single" baseType="identifier">'
        "<correctResponse><value>W</value></correctResponse></responseDeclaration>"
    )
    body = (
        '<p>Sun of <textEntryInteraction responseIdentifier="A"/>, the '
        '<inlineChoiceInteraction responseIdentifier="B" shuffle="true"><inlineChoice identifier="S">summer'
        '</inlineChoice><inlineChoice identifier="W">winter</inlineChoice></inlineChoiceInteraction>.</p>'
    )
    (record,) = parse_file(item(tmp_path, declarations, body))
    assert record.qtype == QuestionType.CLOZE
    assert record.stem == "<p>Sun of {#1}, the {#2}.</p>"
    entry, choice = record.answer_data["subquestions"]
    assert entry == {
        "type": "short_answer",
        "weight": 1,
        "case_sensitive": True,
        "answers": [
            {"text": "York", "fraction": 1.0, "feedback": ""},
            {"text": "york", "fraction": 0.5, "feedback": ""},
        ],
    }
    assert choice["shuffle"] is True
    assert [(o["text"], o["fraction"]) for o in choice["options"]] == [("summer", 0.0), ("winter", 1.0)]


def test_choice_feedback_and_an_unmapped_multiple_choice(tmp_path):
    declarations = (
        '<responseDeclaration identifier="R" cardinality="multiple" baseType="identifier">'
        "<correctResponse><value>x</value><value>z</value></correctResponse></responseDeclaration>"
    )
    body = (
        '<choiceInteraction responseIdentifier="R" maxChoices="3"><prompt>Pick the <b>vowels</b>.</prompt>'
        '<simpleChoice identifier="x">a<feedbackInline outcomeIdentifier="FEEDBACK" identifier="x" showHide="show">'
        "yes</feedbackInline></simpleChoice>"
        '<simpleChoice identifier="y">b</simpleChoice><simpleChoice identifier="z">e</simpleChoice>'
        "</choiceInteraction>"
    )
    (record,) = parse_file(item(tmp_path, declarations, body))
    assert record.qtype == QuestionType.MULTIPLE_CHOICE
    assert record.stem == "<p>Pick the <b>vowels</b>.</p>"
    assert record.answer == "AC"
    assert record.options == [
        {"key": "A", "text": "a", "fraction": 0.5, "feedback": "yes"},
        {"key": "B", "text": "b", "fraction": 0.0, "feedback": ""},
        {"key": "C", "text": "e", "fraction": 0.5, "feedback": ""},
    ]


def test_other_interactions_and_other_documents_are_refused(tmp_path):
    hotspot = item(tmp_path, "", '<hotspotInteraction responseIdentifier="R"/>', name="hotspot.xml")
    with pytest.raises(BankImportError, match="hotspot interactions are not supported"):
        parse_file(hotspot)
    two = item(
        tmp_path,
        "",
        '<extendedTextInteraction responseIdentifier="A"/><extendedTextInteraction responseIdentifier="B"/>',
        name="two.xml",
    )
    with pytest.raises(BankImportError, match="items combining several interactions"):
        parse_file(two, fmt="qti21")
    other = tmp_path / "quiz.xml"
    other.write_text("<quiz/>", encoding="utf-8")
    with pytest.raises(BankImportError, match="not a QTI 2.1 item: the root element is <quiz>"):
        parse_file(other, fmt="qti21")
    undeclared = item(tmp_path, "", '<extendedTextInteraction responseIdentifier="R"/>', name="undeclared.xml")
    with pytest.raises(BankImportError, match="undeclared response 'R'"):
        parse_file(undeclared)


def test_a_cloze_with_fractional_weights_exports_whole_weights(tmp_path):
    declarations = text_response(
        "A", "York", mapping='<mapping defaultValue="0"><mapEntry mapKey="York" mappedValue="0.5"/></mapping>'
    ) + text_response("B", "winter")
    body = (
        '<p><textEntryInteraction responseIdentifier="A"/> in <inlineChoiceInteraction responseIdentifier="B">'
        '<inlineChoice identifier="winter">winter</inlineChoice><inlineChoice identifier="spring">spring'
        "</inlineChoice></inlineChoiceInteraction></p>"
    )
    (record,) = parse_file(item(tmp_path, declarations, body))
    assert [sub["weight"] for sub in record.answer_data["subquestions"]] == [0.5, 1]
    out = tmp_path / "out.xml"
    export([record], out)
    (back,) = parse_file(out)
    assert back.stem == record.stem == "<p>{#1} in {#2}</p>"
    assert [sub["weight"] for sub in back.answer_data["subquestions"]] == [1, 1]


def test_an_item_without_interactions_is_a_description(tmp_path):
    (record,) = parse_file(item(tmp_path, "", "<p>Read the passage below.</p>"))
    assert (record.qtype, record.stem) == (QuestionType.DESCRIPTION, "<p>Read the passage below.</p>")


EXTERNAL_ENTITY = f"""<?xml version="1.0"?>
<!DOCTYPE assessmentItem [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<assessmentItem xmlns="{NAMESPACE}" identifier="x"><itemBody><p>&secret;</p></itemBody></assessmentItem>
"""

ENTITY_EXPANSION = f"""<?xml version="1.0"?>
<!DOCTYPE assessmentItem [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>
<assessmentItem xmlns="{NAMESPACE}" identifier="x"><itemBody><p>&b;</p></itemBody></assessmentItem>
"""


@pytest.mark.django_db
@pytest.mark.parametrize("text", [EXTERNAL_ENTITY, ENTITY_EXPANSION], ids=["external-entity", "entity-expansion"])
def test_unsafe_xml_is_refused_and_nothing_is_imported(tmp_path, text):
    path = tmp_path / "evil.xml"
    path.write_text(text, encoding="utf-8")
    assert detect_format(path).name == "qti21"
    report = bank_import(paths=[path], skip_invalid=True)
    assert report.created == 0
    (error,) = report.errors
    assert error.field == "(xml)" and error.message.startswith("unsafe XML:")
    assert Question.objects.count() == 0
