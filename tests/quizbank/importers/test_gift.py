"""GIFT: Moodle's own fixture files, the syntax rules one by one, errors, and the round trip
GIFT → bank → GIFT that must give back the same questions."""

from pathlib import Path

import pytest

from quizbank.exporters.gift import export
from quizbank.importers import BankImportError, detect_format, gift, iter_file, parse_file
from quizbank.importers.base import QuestionRecord, RowError
from quizbank.models import Question, QuestionType
from quizbank.normalize import record_hash
from quizbank.services import bank_import, bank_import_file, subject_get_or_create
from tests.conftest import SHARED

pytestmark = pytest.mark.skipif(not (SHARED / "formats").is_dir(), reason="../shared/formats is absent")

MOODLE = SHARED / "formats" / "moodle"
GIFT_FILE = MOODLE / "gift_questions.gift.txt"
CATEGORY_FILE = MOODLE / "gift_questions_in_category.gift.txt"


def by_row(records: list[QuestionRecord]) -> dict[int, QuestionRecord]:
    return {record.source_row: record for record in records}


def write(tmp_path: Path, text: str, name: str = "snippet.gift") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def snippet(tmp_path: Path, text: str) -> list[QuestionRecord]:
    return parse_file(write(tmp_path, text), fmt="gift")


def one(tmp_path: Path, text: str) -> QuestionRecord:
    (record,) = snippet(tmp_path, text)
    return record


# --- Moodle's fixture files --------------------------------------------------------------------


def test_gift_questions_file_gives_nine_questions_of_the_right_types():
    # The file holds nine paragraphs with an answer block (its comments name each one).
    records = parse_file(GIFT_FILE)
    assert [(record.source_row, record.qtype) for record in records] == [
        (2, QuestionType.ESSAY),
        (5, QuestionType.MATCHING),
        (14, QuestionType.SINGLE_CHOICE),
        (22, QuestionType.MULTIPLE_CHOICE),
        (31, QuestionType.NUMERICAL),
        (34, QuestionType.SHORT_ANSWER),
        (41, QuestionType.TRUE_FALSE),
        (46, QuestionType.TRUE_FALSE),
        (49, QuestionType.TRUE_FALSE),
    ]
    assert {record.subject for record in records} == {"未分类/gift_questions.gift"}  # no $CATEGORY
    assert all(record.source_file == "gift_questions.gift.txt" for record in records)
    assert by_row(records)[2].stem == "How are you?"


def test_matching_keeps_pairs_formats_and_the_distractor():
    matching = by_row(parse_file(GIFT_FILE))[5]
    assert matching.stem == "Match the <b>activity</b> to the description."
    assert matching.stem_format == "html"
    assert matching.answer_data == {
        "pairs": [
            {"left": "An activity supporting asynchronous discussions.", "right": "Forum"},
            {"left": "A teacher asks a question and specifies a choice of multiple responses.", "right": "Choice"},
            {"left": "A bank of record entries which participants can add to.", "right": "Database"},
            {"left": "A collection of web pages that anyone can add to or edit.", "right": "Wiki"},
        ],
        "distractors": ["Chat"],
    }


def test_single_choice_has_fractions_and_per_option_feedback():
    question = by_row(parse_file(GIFT_FILE))[14]
    assert question.answer == "A"
    assert question.options == [
        {"key": "A", "text": "yellow", "fraction": 1.0, "feedback": "right; good!"},
        {"key": "B", "text": "red", "fraction": 0.0, "feedback": "wrong, it's yellow"},
        {"key": "C", "text": "blue", "fraction": 0.0, "feedback": "wrong, it's yellow"},
    ]


def test_multiple_choice_without_equals_sign_keeps_negative_weights():
    question = by_row(parse_file(GIFT_FILE))[22]
    assert question.answer == "AC"
    assert [(o["key"], o["text"], o["fraction"], o["feedback"]) for o in question.options] == [
        ("A", "yellow", 0.5, "right; good!"),
        ("B", "red", -1.0, "wrong"),
        ("C", "off-beige", 0.5, "right; good!"),
        ("D", "blue", -1.0, "wrong"),
    ]


def test_numerical_with_tolerance_and_wrong_answer_feedback_and_trailing_text_as_gap():
    question = by_row(parse_file(GIFT_FILE))[31]
    assert question.answer == "3"
    assert question.answer_data == {
        "answers": [{"value": 3, "tolerance": 2, "fraction": 1.0, "feedback": ""}],
        "wrong_feedback": "Completely wrong",
    }
    # The stray `";` after the brace is text after the block: Moodle makes the block a gap.
    assert question.stem == 'What is a number from 1 to 5? _____";'


def test_short_answer_keeps_weights_feedback_and_wildcard():
    question = by_row(parse_file(GIFT_FILE))[34]
    assert question.answer == "Frog"
    assert question.answer_data == {
        "answers": [
            {"text": "Frog", "fraction": 1.0, "feedback": "Good!"},
            {"text": "Cat", "fraction": 0.5, "feedback": "What is it with Moodlers and cats?"},
            {"text": "*", "fraction": 0.0, "feedback": "Completely wrong"},
        ],
        "case_sensitive": False,
    }


def test_true_false_feedback_order_and_general_feedback():
    records = by_row(parse_file(GIFT_FILE))
    question = records[41]
    assert question.answer == "false"
    # {FALSE#shown to whoever answers "true"#shown to whoever answers "false"}
    assert question.answer_data == {
        "feedback_true": "42 is the Ultimate Answer.",
        "feedback_false": "You gave the right answer.",
    }
    assert question.general_feedback == "This is, of course, a Hitchiker's Guide to the Galaxy reference."
    assert question.explanation == question.general_feedback
    assert question.stem == '42 is the Absolute Answer to everything._____";'
    assert records[46].answer == records[49].answer == "true"  # {T} and {TRUE}
    assert records[46].stem == "TSL is blablabla."


def test_category_file_sets_the_subject_and_unescapes_html():
    records = parse_file(CATEGORY_FILE, subject="英语")
    # The $CATEGORY paragraph is not a question: four remain. The category wins over --subject,
    # and Moodle's `$course$` context prefix is not part of the subject path.
    assert [(record.source_row, record.qtype) for record in records] == [
        (5, QuestionType.MATCHING),
        (14, QuestionType.SINGLE_CHOICE),
        (22, QuestionType.SHORT_ANSWER),
        (27, QuestionType.TRUE_FALSE),
    ]
    assert {record.subject for record in records} == {"Default for New Features"}
    matching, greeting, user, acronym = records
    assert matching.answer_data["distractors"] == ["Chat"]
    assert len(matching.answer_data["pairs"]) == 4
    # `\=` and `\:` are escapes; the HTML is sanitised (links get rel, styles go).
    assert greeting.stem == (
        '<a href="http://demo.moodle.net/file.php/5/media/bonjour.mp3" rel="noopener noreferrer">'
        "Listen to this greeting:</a><br><br>What language is being spoken?"
    )
    assert greeting.answer == "B"
    assert [o["fraction"] for o in greeting.options] == [0.0, 1.0, 0.0, 0.0]
    assert greeting.options[1]["feedback"] == "Yes, well done!"
    assert user.answer_data["answers"] == [{"text": "Moodler", "fraction": 1.0, "feedback": ""}]
    assert acronym.answer == "true"
    assert acronym.stem == (
        "Moodle is an acronym for <span>Modular Object-Oriented Dynamic Learning Environment</span>."
    )


def test_without_category_the_given_subject_is_used():
    assert {record.subject for record in parse_file(GIFT_FILE, subject="英语/阅读")} == {"英语/阅读"}


@pytest.mark.django_db
def test_bank_import_writes_the_file_and_skips_the_repeated_true_false():
    report = bank_import_file(path=GIFT_FILE)
    # {T} and {TRUE} on the same stem are one question.
    assert (report.created, report.duplicates) == (8, 1)
    assert Question.objects.filter(subject__path="未分类/gift_questions.gift").count() == 8
    assert report.warnings == [
        "gift_questions.gift.txt: 9 questions named no subject and went to 未分类/gift_questions.gift; "
        "choose a default subject to place them elsewhere"
    ]


def test_sniff_claims_gift_and_not_aiken_or_pasted_text():
    for path in (GIFT_FILE, CATEGORY_FILE, MOODLE / "missingword1.txt", MOODLE / "missingword2.txt"):
        assert gift.sniff(path.read_text(encoding="utf-8"), path.name), path.name
    for path in (
        MOODLE / "aiken_questions.aiken.txt",
        MOODLE / "aiken_errors.txt",
        SHARED / "formats" / "chinese_systems" / "xmky_exam_txt_import_example.txt",
    ):
        assert not gift.sniff(path.read_text(encoding="utf-8"), path.name), path.name
    assert detect_format(GIFT_FILE).name == "gift"
    assert detect_format(CATEGORY_FILE).name == "gift"


# --- the syntax, rule by rule --------------------------------------------------------------------


def test_numerical_ranges_tolerances_and_several_weighted_answers(tmp_path):
    records = snippet(
        tmp_path,
        "What is a number from 1 to 5? {#1..5}\n\n"
        "::pi:: Give pi to two places. {#3.14:0.01}\n\n"
        "When was Grant born? {#\n=1822:0 #Exactly\n=%50%1822:2 #Close\n}\n\n"
        "How cold? {#-5..-1.5}\n",
    )
    assert [record.answer for record in records] == ["1..5", "3.14", "1822", "-5..-1.5"]
    assert records[0].answer_data == {"answers": [{"min": 1, "max": 5, "fraction": 1.0, "feedback": ""}]}
    assert records[1].answer_data == {"answers": [{"value": 3.14, "tolerance": 0.01, "fraction": 1.0, "feedback": ""}]}
    assert records[2].answer_data == {
        "answers": [
            {"value": 1822, "tolerance": 0, "fraction": 1.0, "feedback": "Exactly"},
            {"value": 1822, "tolerance": 2, "fraction": 0.5, "feedback": "Close"},
        ]
    }
    assert records[3].answer_data["answers"][0] == {"min": -5, "max": -1.5, "fraction": 1.0, "feedback": ""}


def test_escapes_comments_and_multiline_paragraphs(tmp_path):
    record = one(
        tmp_path,
        "// a comment line\n"
        "::esc::Which is right\\: a\\=b, \\{x\\}, 50\\% \\~ c\\#1, back\\\\slash,\\nnew line?\n"
        "// a comment between the lines\n"
        "{=a\\=b # yes\\: it is ~b\\~c\\#2}\n",
    )
    assert record.qtype == QuestionType.SINGLE_CHOICE
    assert record.stem == "Which is right: a=b, {x}, 50\\% ~ c#1, back\\slash,\nnew line?"
    assert [(o["text"], o["feedback"]) for o in record.options] == [("a=b", "yes: it is"), ("b~c#2", "")]
    assert record.source_row == 2


def test_true_false_with_true_answer_puts_right_feedback_on_true(tmp_path):
    record = one(tmp_path, "The sun is a star.{T#Think again.#Yes, a G-type star.####Stars shine.}")
    assert record.answer == "true"
    assert record.answer_data == {"feedback_true": "Yes, a G-type star.", "feedback_false": "Think again."}
    assert record.general_feedback == "Stars shine."
    false = one(tmp_path, "Grant is buried in Grant's tomb.{F}")
    assert (false.answer, false.answer_data) == ("false", {"feedback_true": "", "feedback_false": ""})


def test_missing_word_gap_description_essay_and_formats(tmp_path):
    gap, description, essay, markdown = snippet(
        tmp_path,
        "Grant is {~buried =entombed ~living} in Grant's tomb.\n\n"
        "::intro:: The next questions are about tombs.\n\n"
        "Write about tombs. {####A model answer mentions Grant.}\n\n"
        "[markdown]Is **this** bold? {=yes ~no}\n",
    )
    assert (gap.stem, gap.answer) == ("Grant is _____ in Grant's tomb.", "B")
    assert description.qtype == QuestionType.DESCRIPTION
    assert description.stem == "The next questions are about tombs."
    assert (essay.qtype, essay.general_feedback) == (QuestionType.ESSAY, "A model answer mentions Grant.")
    assert (markdown.stem_format, markdown.stem) == ("markdown", "Is **this** bold?")


def test_plain_parts_of_html_questions_are_escaped_and_tags_come_from_comments(tmp_path):
    record = one(tmp_path, "// [tag:chemistry] [tag:easy]\n[html]<i>Pick</i> one {=[plain]a<b ~[html]<b>c</b>}")
    assert record.tags == ["chemistry", "easy"]
    assert [o["text"] for o in record.options] == ["a&lt;b", "<b>c</b>"]


def test_several_equals_answers_in_a_choice_keep_the_first_as_the_key(tmp_path):
    record = one(tmp_path, "Which are primes? {=2 =3 ~4}")
    assert record.qtype == QuestionType.SINGLE_CHOICE
    assert record.answer == "A"
    assert [o["fraction"] for o in record.options] == [1.0, 1.0, 0.0]


# --- errors ----------------------------------------------------------------------------------------

BROKEN = """\
::ok:: Fine {=a ~b}

::unclosed:: What is 1+1? {=2 ~3

::stray:: Close } before open {=a ~b}

::title never closed What? {=a ~b}

::match:: Match {=a -> 1 =b 2 =c -> 3}

::num:: How many? {#three}

::one:: Only one option {~%100%a}

::twice:: One {=a ~b} then another {=c ~d}

::nested:: Nested { {=a ~b}
"""


def test_malformed_questions_give_row_errors_with_line_numbers(tmp_path):
    items = list(iter_file(write(tmp_path, BROKEN), fmt="gift"))
    errors = [item for item in items if isinstance(item, RowError)]
    assert [item.source_row for item in items if isinstance(item, QuestionRecord)] == [1]
    found = {error.row: (error.field, error.message) for error in errors}
    assert set(found) == {3, 5, 7, 9, 11, 13, 15, 17}
    assert "unclosed brace" in found[3][1] and "line 3" in found[3][1]
    assert "'}' on line 5" in found[5][1]
    assert found[7][0] == "title"
    assert "has no '->'" in found[9][1] and "line 9" in found[9][1]
    assert "'three' on line 11 is not a number" in found[11][1]
    assert found[13] == ("options", "a choice question needs at least two options, found 1")
    assert "second answer block on line 15" in found[15][1]
    assert "line 17" in found[17][1]
    assert all(error.file == "snippet.gift" for error in errors)


def test_an_unclosed_brace_names_its_line_even_deep_in_a_paragraph(tmp_path):
    (error,) = [
        item
        for item in iter_file(write(tmp_path, "// comment\n::q::\nWhich?\n{\n=a\n~b\n"), fmt="gift")
        if isinstance(item, RowError)
    ]
    assert (error.row, error.field) == (2, "answer")
    assert "'{' on line 4 is never closed" in error.message


@pytest.mark.django_db
def test_bank_import_of_a_broken_file_writes_nothing(tmp_path):
    report = bank_import(paths=[write(tmp_path, BROKEN)], fmt="gift")
    assert report.created == 0
    assert report.skipped == 8
    assert Question.objects.count() == 0
    with pytest.raises(BankImportError, match=r"snippet.gift, item 3, field 'answer': unclosed brace"):
        bank_import_file(path=write(tmp_path, BROKEN), fmt="gift")
    assert Question.objects.count() == 0


# --- the round trip ---------------------------------------------------------------------------------

EVERYTHING = """\
$CATEGORY: 数学/函数

// [tag:gift]
::t1::[html]<p>Which is <b>x</b> in f\\(x\\)\\=2x, f\\:x→y?</p>{
=[plain]a<b #[html]<i>yes</i>
~%-50%two\\~three # no\\#1
~%33.33333%third
}

A sentence with a {=gap ~hole #hm} in the middle.

Two lines\\nin one stem with a back\\\\slash {=x =%50%y #half}

$CATEGORY: 数学/几何

Numbers {#=1..5 =%25%7:0.5#close ~#other}

[markdown]**Match** {=a -> 1 =b -> 2 = -> 3 ####general}

Pick any {~%50%a ~%50%b ~%-100%c}

Essay {}

Just a description\\: no braces

T or F? {F#no#yes}
"""


def round_trip(path: Path, tmp_path: Path) -> tuple[set[str], set[str], list[QuestionRecord]]:
    bank_import_file(path=path, fmt="gift")
    questions = Question.objects.order_by("id")
    out = tmp_path / "out.gift"
    assert export(questions, out) == questions.count()
    reparsed = parse_file(out, fmt="gift")
    return {record_hash(record) for record in reparsed}, set(questions.values_list("content_hash", flat=True)), reparsed


@pytest.mark.django_db
@pytest.mark.parametrize("path", [GIFT_FILE, CATEGORY_FILE], ids=["gift_questions", "in_category"])
def test_round_trip_of_moodle_files_gives_the_same_questions(path, tmp_path):
    reparsed_hashes, bank_hashes, reparsed = round_trip(path, tmp_path)
    assert reparsed_hashes == bank_hashes
    by_hash = {question.content_hash: question for question in Question.objects.select_related("subject")}
    for record in reparsed:
        question = by_hash[record_hash(record)]
        assert record.subject == question.subject.path
        assert (record.general_feedback, record.stem_format) == (question.general_feedback, question.stem_format)
        assert record.options == question.options


@pytest.mark.django_db
def test_round_trip_of_every_feature(tmp_path):
    source = write(tmp_path, EVERYTHING)
    originals = parse_file(source, fmt="gift")
    assert len(originals) == 9
    reparsed_hashes, bank_hashes, reparsed = round_trip(source, tmp_path)
    assert reparsed_hashes == bank_hashes == {record_hash(record) for record in originals}
    assert [record.subject for record in reparsed] == ["数学/函数"] * 3 + ["数学/几何"] * 6
    assert reparsed[0].tags == ["gift"]
    assert [(r.qtype, r.general_feedback, r.answer_data) for r in reparsed] == [
        (r.qtype, r.general_feedback, r.answer_data) for r in originals
    ]


@pytest.mark.django_db
def test_export_leaves_out_what_gift_cannot_express(tmp_path):
    subject = subject_get_or_create(path="语文")
    Question.objects.create(
        subject=subject,
        qtype=QuestionType.CLOZE,
        stem="{#1} and {#2}",
        content_hash="cloze",
        answer_data={"subquestions": [{"type": "short_answer", "answers": [{"text": "a"}]}]},
    )
    Question.objects.create(
        subject=subject,
        qtype=QuestionType.FILL_BLANK,
        stem="两个空 _____ 和 _____。",
        content_hash="two",
        answer_data={"blanks": [{"answers": ["a"]}, {"answers": ["b"]}]},
    )
    Question.objects.create(
        subject=subject,
        qtype=QuestionType.FILL_BLANK,
        stem="山西的简称是 _____。",
        content_hash="one",
        answer="晋",
        answer_data={"blanks": [{"answers": ["晋", "山西"]}]},
    )
    out = tmp_path / "out.gift"
    assert export(Question.objects.order_by("id"), out) == 1
    (record,) = parse_file(out, fmt="gift")
    assert (record.qtype, record.stem, record.subject) == (QuestionType.SHORT_ANSWER, "山西的简称是 _____。", "语文")
    assert [answer["text"] for answer in record.answer_data["answers"]] == ["晋", "山西"]


def test_windows_line_breaks_and_bom_keep_line_numbers(tmp_path):
    path = tmp_path / "windows.gift"
    path.write_bytes("// c\r\nQ1 {=a ~b}\r\n\r\nQ2 {=a ~b\r\n".encode("utf-8-sig"))
    items = list(iter_file(path, fmt="gift"))
    assert [item.source_row for item in items if isinstance(item, QuestionRecord)] == [2]
    assert [item.row for item in items if isinstance(item, RowError)] == [4]


def test_category_paths_drop_moodle_context_and_keep_slashes_inside_names(tmp_path):
    records = snippet(
        tmp_path,
        "$CATEGORY: $course$/top/数学/函数\n\nQ1 {T}\n\n$CATEGORY: $system$/Physics//Chemistry/Gases\n\nQ2 {T}\n",
    )
    assert [record.subject for record in records] == ["数学/函数", "Physics／Chemistry/Gases"]
