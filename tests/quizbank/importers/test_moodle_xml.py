"""Moodle XML: Moodle's own fixture files and the aitext plugin's, every question type, unsafe
XML, and the round trip Moodle XML → bank → Moodle XML that must give back the same questions."""

from decimal import Decimal
from pathlib import Path
from xml.etree import ElementTree

import pytest

from quizbank.exporters.moodle_xml import export
from quizbank.importers import BankImportError, detect_format, iter_file, parse_file
from quizbank.importers.base import QuestionRecord, RowError
from quizbank.models import Question, QuestionType, Subject
from quizbank.normalize import record_hash
from quizbank.services import bank_import, bank_import_file
from tests.conftest import SHARED

pytestmark = pytest.mark.skipif(not (SHARED / "formats").is_dir(), reason="../shared/formats is absent")

MOODLE = SHARED / "formats" / "moodle"
PLUGINS = SHARED / "formats" / "moodle_plugins"

# Questions per file: every <question> except the type="category" pseudo-questions.
EXPECTED_COUNTS = {
    "moodle/xml_cloze_all_types.moodle.xml": 1,
    "moodle/xml_essay.moodle.xml": 1,
    "moodle/xml_gapselect.moodle.xml": 1,
    "moodle/xml_matching.moodle.xml": 1,
    "moodle/xml_multichoice_multi.moodle.xml": 1,
    "moodle/xml_nested_categories_with_questions.xml": 5,
    "moodle/xml_shortanswer.moodle.xml": 1,
    "moodle/xml_truefalse.moodle.xml": 1,
    "moodle_plugins/qtype_aitext_past_tense.moodle.xml": 1,
    "moodle_plugins/qtype_aitext_testquestion.moodle.xml": 1,
}


def shared_files() -> list[Path]:
    return sorted([*MOODLE.glob("*.xml"), *PLUGINS.glob("*.xml")])


def only(path: Path) -> QuestionRecord:
    (record,) = parse_file(path)
    return record


def write(tmp_path: Path, body: str, name: str = "snippet.xml") -> Path:
    path = tmp_path / name
    path.write_text(f'<?xml version="1.0" encoding="UTF-8"?>\n<quiz>\n{body}\n</quiz>\n', encoding="utf-8")
    return path


def question(qtype: str, inner: str, stem: str = "Question text", fmt: str = "html") -> str:
    return (
        f'<question type="{qtype}"><name><text>q</text></name>'
        f'<questiontext format="{fmt}"><text><![CDATA[{stem}]]></text></questiontext>{inner}</question>'
    )


def category(path: str) -> str:
    return f'<question type="category"><category><text>{path}</text></category></question>'


# --- the shared files ------------------------------------------------------------------------


def test_every_shared_moodle_file_has_an_expected_count():
    found = {f"{path.parent.name}/{path.name}" for path in shared_files()}
    assert found == set(EXPECTED_COUNTS)


@pytest.mark.parametrize("name", sorted(EXPECTED_COUNTS))
def test_shared_file_is_detected_and_gives_its_questions(name):
    path = SHARED / "formats" / name
    assert detect_format(path).name == "moodle-xml"
    records = parse_file(path)
    assert len(records) == EXPECTED_COUNTS[name]
    assert all(record.source_file == path.name for record in records)


def test_multichoice_with_several_answers():
    record = only(MOODLE / "xml_multichoice_multi.moodle.xml")
    assert record.qtype == QuestionType.MULTIPLE_CHOICE
    assert record.subject == "Default for C1"
    assert record.stem == "Find the capital cities in Europe."
    assert record.stem_format == "html"
    assert [(o["key"], o["text"], o["fraction"]) for o in record.options] == [
        ("A", "Tokyo", 0.0),
        ("B", "Spain", 0.0),
        ("C", "London", 0.5),
        ("D", "Barcelona", 0.0),
        ("E", "Paris", 0.5),
    ]
    assert record.answer == "CE"
    assert record.general_feedback == record.explanation == "Berlin, Paris and London"
    assert record.score == Decimal(1)
    assert record.source_row == 12  # the line of <question type="multichoice">


def test_truefalse_with_feedback():
    record = only(MOODLE / "xml_truefalse.moodle.xml")
    assert (record.qtype, record.answer, record.subject) == (QuestionType.TRUE_FALSE, "true", "Test questions")
    assert record.answer_data == {
        "feedback_true": "This is the right answer.",
        "feedback_false": "This is the wrong answer.",
    }
    assert record.general_feedback == "You should have selected true."


def test_shortanswer_keeps_fractions_feedback_and_the_wildcard():
    record = only(MOODLE / "xml_shortanswer.moodle.xml")
    assert record.qtype == QuestionType.SHORT_ANSWER
    assert record.answer == "frog"
    assert record.answer_data["case_sensitive"] is False
    assert record.answer_data["answers"] == [
        {"text": "frog", "fraction": 1.0, "feedback": "Frog is a very good answer."},
        {"text": "toad", "fraction": 0.8, "feedback": "Toad is an OK good answer."},
        {"text": "*", "fraction": 0.0, "feedback": "That is a bad answer."},
    ]


def test_essay():
    record = only(MOODLE / "xml_essay.moodle.xml")
    assert (record.qtype, record.stem, record.answer) == (QuestionType.ESSAY, "Write an essay with 500 words.", "")
    assert record.answer_data == {"rubric": [], "grading_instructions": ""}
    assert record.general_feedback == "This is general feedback"


def test_matching_with_a_distractor():
    record = only(MOODLE / "xml_matching.moodle.xml")
    assert record.qtype == QuestionType.MATCHING
    assert record.answer_data == {
        "pairs": [
            {"left": "frog", "right": "amphibian"},
            {"left": "cat", "right": "mammal"},
            {"left": "newt", "right": "amphibian"},
        ],
        "distractors": ["insect"],
    }


def test_gapselect_becomes_a_cloze_of_dropdowns_offering_the_whole_group():
    record = only(MOODLE / "xml_gapselect.moodle.xml")
    assert record.qtype == QuestionType.CLOZE
    assert record.stem == "The {#1} {#2} on the {#3}."
    subquestions = record.answer_data["subquestions"]
    assert [sub["type"] for sub in subquestions] == ["single_choice"] * 3
    for sub, wanted in zip(subquestions, ["cat", "sat", "mat"], strict=True):
        assert [option["text"] for option in sub["options"]] == ["cat", "sat", "mat", "dog", "table"]
        assert [option["text"] for option in sub["options"] if option["fraction"] == 1.0] == [wanted]
    assert record.answer == "cat；sat；mat"
    assert record.general_feedback == "The cat sat on the mat."


def test_cloze_with_every_embedded_type():
    record = only(MOODLE / "xml_cloze_all_types.moodle.xml")
    assert record.qtype == QuestionType.CLOZE
    subquestions = record.answer_data["subquestions"]
    assert len(subquestions) == 16
    assert all(f"{{#{n}}}" in record.stem for n in range(1, 17))
    assert "{1:" not in record.stem and "MULTICHOICE:" not in record.stem
    assert [sub["type"] for sub in subquestions] == (
        ["single_choice"] * 6 + ["multiple_choice"] * 4 + ["numerical"] * 3 + ["short_answer"] * 3
    )
    assert [(sub.get("display"), sub.get("shuffle")) for sub in subquestions[:10]] == [
        ("dropdown", False),
        ("horizontal", False),
        ("vertical", False),
        ("dropdown", True),
        ("horizontal", True),
        ("vertical", True),
        ("vertical", False),
        ("horizontal", False),
        ("vertical", True),
        ("horizontal", True),
    ]
    asterix = subquestions[0]["options"]
    assert [(o["text"], o["fraction"], o["feedback"]) for o in asterix][:2] == [
        ("200 B.C.", 0.0, "too early"),
        ("50 B.C.", 1.0, "Correct"),
    ]
    # MULTIRESPONSE without %weights%: right ones share 100%, each wrong one cancels one right one
    simpsons = {o["text"]: o["fraction"] for o in subquestions[6]["options"]}
    assert simpsons == {"Marge": 0.5, "Fred": -0.5, "Lisa": 0.5, "Anna": -0.5}
    # with %weights% they are scaled to add up to 100% and wrong ones stay at 0
    marge = {o["text"]: o["fraction"] for o in subquestions[7]["options"]}
    assert marge == {"blue hair": 0.6666667, "being very greedy": 0.0, "being a soccer mom": 0.3333333}
    boiling = subquestions[11]["answers"]
    assert [(a["value"], a["tolerance"], a["fraction"]) for a in boiling] == [(212.0, 0.0, 1.0), (212.0, 10.0, 0.5)]
    celsius = subquestions[12]
    assert celsius["weight"] == 3
    assert [a["fraction"] for a in celsius["answers"]] == [1.0, 0.66, 0.33]
    water = subquestions[14]
    assert water["case_sensitive"] is True
    assert [(a["text"], a["fraction"]) for a in water["answers"][:2]] == [("H<sub>2</sub>O", 1.0), ("H2O", 1.0)]
    whisky = subquestions[15]
    assert whisky["case_sensitive"] is False
    assert [(a["text"], a["fraction"]) for a in whisky["answers"]] == [
        ("Whisky", 1.0),
        ("Whiskey", 1.0),
        ("Wiskey", 0.5),
        ("Wisky", 0.25),
    ]
    assert record.score == Decimal(18)  # no <defaultgrade>: the sum of the weights
    assert record.answer.split("；")[:3] == ["50 B.C.", "Obelix", "Australia"]
    assert "more than 40 comic books" in record.general_feedback
    assert record.subject.startswith("未分类/")


def test_nested_categories_set_the_subject_of_the_questions_after_them():
    records = parse_file(MOODLE / "xml_nested_categories_with_questions.xml")
    assert [(record.subject, record.qtype) for record in records] == [
        ("Iota", QuestionType.TRUE_FALSE),
        ("Iota/Kappa", QuestionType.ESSAY),
        ("Iota/Kappa", QuestionType.TRUE_FALSE),
        ("Iota/Kappa/Lambda", QuestionType.TRUE_FALSE),
        ("Iota/Mu", QuestionType.TRUE_FALSE),
    ]
    assert records[1].stem_format == "plain"  # moodle_auto_format
    assert records[3].stem == "<p>Testing Lambda Question</p>"
    assert all(record.answer == "true" for record in records if record.qtype == QuestionType.TRUE_FALSE)


def test_aitext_prompt_mark_scheme_and_sample_responses():
    record = only(PLUGINS / "qtype_aitext_past_tense.moodle.xml")
    assert record.qtype == QuestionType.ESSAY
    assert record.subject == "未分类/qtype_aitext_past_tense.moodle"  # no category in the file
    assert record.answer_data["grading_instructions"] == (
        "Explain if there is anything wrong with the grammar and spelling in the text."
    )
    assert record.answer_data["rubric"] == [
        {
            "id": "1",
            "criterion": "Deduct a point from the total score for each grammar or spelling mistake.",
            "points": 1,
        }
    ]
    assert record.answer == "response1\n\nresponse2"


def test_aitext_test_question():
    record = only(PLUGINS / "qtype_aitext_testquestion.moodle.xml")
    assert (record.qtype, record.subject) == (QuestionType.ESSAY, "Default for C1")
    assert record.answer_data["grading_instructions"] == "Evaluate me"
    assert record.answer_data["rubric"] == [{"id": "1", "criterion": "One mark if correct", "points": 1}]
    assert record.answer == ""


def test_the_given_subject_is_the_default_only():
    (plain,) = parse_file(PLUGINS / "qtype_aitext_past_tense.moodle.xml", subject="英语/语法")
    (categorised,) = parse_file(MOODLE / "xml_essay.moodle.xml", subject="英语/语法")
    assert (plain.subject, categorised.subject) == ("英语/语法", "Default for C1")


# --- the rest of the format, inline ----------------------------------------------------------


def test_single_choice_numerical_description_tags_and_categories(tmp_path):
    body = "\n".join(
        [
            category("$course$/top/数学/函数"),
            question(
                "multichoice",
                "<defaultgrade>2.5000000</defaultgrade><single>true</single>"
                '<answer fraction="0"><text>1</text><feedback><text>no</text></feedback></answer>'
                '<answer fraction="100"><text>2</text><feedback><text>yes</text></feedback></answer>'
                "<tags><tag><text>代数</text></tag><tag><text>easy</text></tag></tags>",
                stem="1 + 1 = ?",
                fmt="plain_text",
            ),
            category("$system$/top/a//b"),
            question(
                "numerical",
                '<answer fraction="100"><text>3.14</text><tolerance>0.01</tolerance><feedback><text>ok</text></feedback>'
                '</answer><answer fraction="50"><text>3</text><tolerance>0</tolerance></answer>'
                '<answer fraction="0"><text>*</text></answer>',
                stem="π ≈ ?",
            ),
            category("$course$/top"),
            question("description", "", stem="<p>Read the following.</p>"),
        ]
    )
    choice, numerical, description = parse_file(write(tmp_path, body))
    assert (choice.subject, choice.qtype, choice.answer, choice.score) == (
        "数学/函数",
        QuestionType.SINGLE_CHOICE,
        "B",
        Decimal("2.5"),
    )
    assert choice.stem_format == "plain"
    assert choice.options[1] == {"key": "B", "text": "2", "fraction": 1.0, "feedback": "yes"}
    assert choice.tags == ["代数", "easy"]
    assert numerical.subject == "a／b"  # a "/" inside a category name
    assert numerical.answer == "3.14"
    assert numerical.answer_data == {
        "answers": [
            {"value": 3.14, "tolerance": 0.01, "fraction": 1.0, "feedback": "ok"},
            {"value": 3.0, "tolerance": 0.0, "fraction": 0.5, "feedback": ""},
        ]
    }
    assert (description.qtype, description.subject, description.score) == (
        QuestionType.DESCRIPTION,
        description.subject,
        0,
    )
    assert description.subject.startswith("未分类/")


def test_ddwtos_and_a_rubric_with_points_per_line(tmp_path):
    body = "\n".join(
        [
            question(
                "ddwtos",
                "<dragbox><text>red</text><group>1</group></dragbox><dragbox><text>blue</text><group>1</group></dragbox>"
                "<dragbox><text>round</text><group>2</group></dragbox><dragbox><text>square</text><group>2</group></dragbox>",
                stem="The sky is [[2]] and the ball is [[3]].",
            ),
            question(
                "essay",
                '<defaultgrade>5</defaultgrade><graderinfo format="html"><text>Look for examples.</text></graderinfo>'
                "<responsetemplate><text>Dear Sam,</text></responsetemplate>"
                "<markscheme>Names three causes (3 points)\nGives an example (2 points)</markscheme>",
            ),
        ]
    )
    cloze, essay = parse_file(write(tmp_path, body))
    assert cloze.stem == "The sky is {#1} and the ball is {#2}."
    first, second = cloze.answer_data["subquestions"]
    assert [o["text"] for o in first["options"]] == ["red", "blue"]
    assert [o["text"] for o in second["options"]] == ["round", "square"]
    assert cloze.answer == "blue；round"
    assert essay.answer_data == {
        "rubric": [
            {"id": "1", "criterion": "Names three causes", "points": 3},
            {"id": "2", "criterion": "Gives an example", "points": 2},
        ],
        "grading_instructions": "Look for examples.",
        "response_template": "Dear Sam,",
    }


def test_embedded_escapes_entities_and_short_codes(tmp_path):
    stem = (
        r"<p>{2:SA:=a\}b#it's \#1~%50%c&amp;d} {:MCV:x~=y&#39;s} {NM:=1,5:0.1}</p>"
        r"{1:MR:%100%p~%0%q~%100%r}"
    )
    body = question("multianswer", "", stem=stem).replace("{NM:", "{1:NM:")
    (record,) = parse_file(write(tmp_path, body))
    sa, mc, nm, mr = record.answer_data["subquestions"]
    assert record.stem == "<p>{#1} {#2} {#3}</p>{#4}"
    assert (sa["weight"], sa["answers"]) == (
        2,
        [
            {"text": "a}b", "fraction": 1.0, "feedback": "it's #1"},
            {"text": "c&d", "fraction": 0.5, "feedback": ""},
        ],
    )
    assert (mc["weight"], mc["display"], [o["text"] for o in mc["options"]]) == (1, "vertical", ["x", "y's"])
    assert nm["answers"] == [{"value": 1.5, "tolerance": 0.1, "fraction": 1.0, "feedback": ""}]
    assert [o["fraction"] for o in mr["options"]] == [0.5, 0.0, 0.5]
    assert record.score == 5


def test_html_in_answer_data_is_sanitised(tmp_path):
    body = question(
        "matching",
        '<subquestion format="html"><text><![CDATA[<b>frog</b><script>alert(1)</script>]]></text>'
        "<answer><text>amphibian</text></answer></subquestion>"
        '<subquestion format="html"><text>cat</text><answer><text>mammal</text></answer></subquestion>',
    )
    (record,) = parse_file(write(tmp_path, body))
    assert record.answer_data["pairs"][0]["left"] == "<b>frog</b>"


def test_embedded_files_are_dropped_and_their_references_kept(tmp_path):
    body = (
        '<question type="truefalse"><questiontext format="html">'
        '<text><![CDATA[<p>Is this a cat? <img src="@@PLUGINFILE@@/cat.png" alt="cat"></p>]]></text>'
        '<file name="cat.png" path="/" encoding="base64">iVBORw0KGgo=</file></questiontext>'
        '<answer fraction="100"><text>true</text></answer><answer fraction="0"><text>false</text></answer></question>'
    )
    (record,) = parse_file(write(tmp_path, body))
    assert record.stem == '<p>Is this a cat? <img src="@@PLUGINFILE@@/cat.png" alt="cat"></p>'
    assert "iVBOR" not in record.stem


def test_unsupported_types_and_bad_questions_are_reported_with_their_line(tmp_path):
    body = "\n".join(
        [
            question("calculated", ""),
            question("truefalse", '<answer fraction="100"><text>maybe</text></answer>'),
            question("multichoice", '<answer fraction="100"><text>only one</text></answer>'),
            question("multichoice", '<defaultgrade>lots</defaultgrade><answer fraction="100"><text>a</text></answer>'),
        ]
    )
    path = write(tmp_path, body)
    with pytest.raises(BankImportError) as caught:
        parse_file(path)
    found = [(error.row, error.field, error.message) for error in caught.value.errors]
    assert found[0] == (3, "type", "Moodle question type 'calculated' is not supported")
    assert found[1][:2] == (4, "answer") and "maybe" in found[1][2]
    assert found[2][:2] == (5, "options")
    assert found[3][:2] == (6, "score")


def test_a_file_that_is_not_moodle_xml(tmp_path):
    path = tmp_path / "other.xml"
    path.write_text("<questions><question/></questions>", encoding="utf-8")
    with pytest.raises(BankImportError, match="not Moodle XML: the root element is <questions>"):
        parse_file(path, fmt="moodle-xml")
    broken = tmp_path / "broken.xml"
    broken.write_text("<quiz>\n<question type='essay'>\n</quiz>", encoding="utf-8")
    with pytest.raises(BankImportError, match=r"broken.xml, item 3, field '\(xml\)': invalid XML: mismatched tag"):
        parse_file(broken, fmt="moodle-xml")


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE quiz [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
  <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
  <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
  <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
  <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
  <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<quiz><question type="essay"><questiontext><text>&lol9;</text></questiontext></question></quiz>
"""

EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE quiz [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<quiz><question type="essay"><questiontext><text>&secret;</text></questiontext></question></quiz>
"""


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("text", "message"),
    [
        (BILLION_LAUGHS, "unsafe XML: entity declaration 'lol' refused"),
        (EXTERNAL_ENTITY, "unsafe XML: external entity 'secret' (file:///etc/passwd) refused"),
    ],
    ids=["billion-laughs", "external-entity"],
)
def test_unsafe_xml_is_refused_and_nothing_is_imported(tmp_path, text, message):
    path = tmp_path / "evil.xml"
    path.write_text(text, encoding="utf-8")
    items = list(iter_file(path))
    assert len(items) == 1 and isinstance(items[0], RowError)
    assert items[0].message.startswith(message)
    report = bank_import(paths=[path], skip_invalid=True)
    assert report.created == 0 and [error.field for error in report.errors] == ["(xml)"]
    with pytest.raises(BankImportError, match="unsafe XML"):
        bank_import_file(path=path)
    assert Question.objects.count() == 0


# --- export and the round trip ---------------------------------------------------------------


def exported_hashes_and_subjects(out: Path) -> set[tuple[str, str]]:
    return {(record_hash(record), record.subject) for record in parse_file(out)}


def bank_hashes_and_subjects() -> set[tuple[str, str]]:
    return {(question.content_hash, question.subject.path) for question in Question.objects.select_related("subject")}


@pytest.mark.django_db
def test_round_trip_of_the_shared_files_gives_back_the_same_questions(tmp_path):
    for path in shared_files():
        bank_import_file(path=path)
    total = Question.objects.count()
    assert total == sum(EXPECTED_COUNTS.values())
    out = tmp_path / "out" / "bank.moodle.xml"
    assert export(Question.objects.all(), out) == total
    assert detect_format(out).name == "moodle-xml"
    reparsed = parse_file(out)
    assert {record_hash(record) for record in reparsed} == set(Question.objects.values_list("content_hash", flat=True))
    assert exported_hashes_and_subjects(out) == bank_hashes_and_subjects()
    # importing the export again finds nothing new
    again = bank_import_file(path=out)
    assert (again.created, again.duplicates) == (0, total)
    assert set(Subject.objects.values_list("path", flat=True)) >= {"Iota/Kappa/Lambda", "Default for C1"}
    assert Subject.objects.filter(path__startswith="未分类/").exists()  # files without categories


@pytest.mark.django_db
def test_round_trip_of_the_other_types_keeps_scores_tags_and_feedback(tmp_path):
    body = "\n".join(
        [
            category("$course$/top/数学/函数"),
            question(
                "multichoice",
                "<defaultgrade>2.5</defaultgrade>"
                '<answer fraction="0"><text>1</text><feedback><text>no</text></feedback></answer>'
                '<answer fraction="100"><text>2</text><feedback><text>yes</text></feedback></answer>'
                "<tags><tag><text>代数</text></tag></tags>",
                stem="1 + 1 = ?",
                fmt="plain_text",
            ),
            question(
                "numerical",
                '<answer fraction="100"><text>3.14</text><tolerance>0.01</tolerance></answer>'
                '<answer fraction="33.33333"><text>3</text><tolerance>0.5</tolerance></answer>',
                stem="π ≈ ?",
            ),
            question("description", "", stem="<p>Read the following.</p>"),
            question(
                "essay",
                "<defaultgrade>5</defaultgrade><responsetemplate><text>Dear Sam,</text></responsetemplate>"
                "<markscheme>Names three causes (3 points)\nGives an example (2 points)</markscheme>",
            ),
            question(
                "essay",
                "<graderinfo><text>Look for examples.</text></graderinfo>",
                stem="Explain why.",
            ),
            question(
                "multianswer",
                "",
                stem=r"<p>{2:SA:=a\}b#it's \#1~%50%c&amp;d} {:MCVS:x~=y&#39;s} {1:MRH:=p~q~=r} {1:NM:=1,5:0.1}</p>",
            ),
        ]
    )
    bank_import_file(path=write(tmp_path, body))
    assert Question.objects.count() == 6
    out = tmp_path / "again.xml"
    export(Question.objects.all(), out)
    assert exported_hashes_and_subjects(out) == bank_hashes_and_subjects()
    by_type = {record.qtype: record for record in parse_file(out) if record.qtype != QuestionType.ESSAY}
    assert by_type[QuestionType.SINGLE_CHOICE].tags == ["代数"]
    assert by_type[QuestionType.SINGLE_CHOICE].score == Decimal("2.5")
    assert by_type[QuestionType.SINGLE_CHOICE].options[0]["feedback"] == "no"
    essays = [record for record in parse_file(out) if record.qtype == QuestionType.ESSAY]
    assert sorted(record.score for record in essays) == [1, 5]


def test_export_writes_categories_and_the_types_moodle_knows(tmp_path):
    records = parse_file(MOODLE / "xml_nested_categories_with_questions.xml")
    records += parse_file(MOODLE / "xml_cloze_all_types.moodle.xml")
    records += parse_file(PLUGINS / "qtype_aitext_testquestion.moodle.xml")
    out = tmp_path / "records.xml"
    assert export(records, out) == 7
    root = ElementTree.parse(out).getroot()
    types = [element.get("type") for element in root.findall("question")]
    assert types == [
        "category",
        "truefalse",
        "category",
        "essay",
        "truefalse",
        "category",
        "truefalse",
        "category",
        "truefalse",
        "category",
        "cloze",
        "category",
        "aitext",
    ]
    categories = [
        element.findtext("category/text") for element in root.iter("question") if element.get("type") == "category"
    ]
    assert categories[:4] == [
        "$course$/top/Iota",
        "$course$/top/Iota/Kappa",
        "$course$/top/Iota/Kappa/Lambda",
        "$course$/top/Iota/Mu",
    ]
    cloze = root.findall("question")[10].findtext("questiontext/text")
    assert "{1:MULTICHOICE_HS:Fish#" in cloze and "{3:NUMERICAL:=1701:0#Exact match~%66%1701:20#" in cloze
    assert "{1:MULTIRESPONSE:%50%Marge#Correct, she is the mother~%-50%Fred#" in cloze
    aitext = root.findall("question")[12]
    assert (aitext.findtext("aiprompt"), aitext.findtext("markscheme")) == ("Evaluate me", "One mark if correct")


def test_fill_blank_is_written_as_a_cloze_of_short_answers(tmp_path):
    record = QuestionRecord(
        subject="地理",
        qtype=QuestionType.FILL_BLANK,
        stem="中国的首都是_____，山西的简称是（ ）。",
        answer="北京；晋",
        answer_data={
            "blanks": [{"answers": ["北京"], "score": 1}, {"answers": ["晋", "山西"], "score": 2}],
            "order_free": False,
            "case_sensitive": False,
        },
    )
    out = tmp_path / "fill.xml"
    export([record], out)
    (back,) = parse_file(out)
    assert back.qtype == QuestionType.CLOZE
    assert back.stem == "中国的首都是{#1}，山西的简称是{#2}。"
    assert [[a["text"] for a in sub["answers"]] for sub in back.answer_data["subquestions"]] == [
        ["北京"],
        ["晋", "山西"],
    ]
    assert [sub["weight"] for sub in back.answer_data["subquestions"]] == [1, 2]
