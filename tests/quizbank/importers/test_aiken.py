import pytest

from quizbank.importers import RowError, detect_format, iter_file, parse_file
from quizbank.importers.aiken import FORMAT, sniff
from quizbank.models import Question
from quizbank.services import bank_import
from tests.conftest import SHARED

pytestmark = pytest.mark.skipif(not (SHARED / "formats").is_dir(), reason="../shared/formats is absent")

MOODLE = SHARED / "formats" / "moodle"


def test_aiken_questions_import_with_their_options_and_answers():
    path = MOODLE / "aiken_questions.aiken.txt"
    assert detect_format(path).name == "aiken"
    records = parse_file(path, subject="Moodle")
    assert len(records) == 2
    first, second = records
    assert (first.qtype, first.stem, first.answer, first.source_row) == (
        "single_choice",
        "The Moodle project was started by:",
        "B",
        1,
    )
    assert [option["text"] for option in first.options] == [
        "Petr Skoda",
        "Martin Dougiamas",
        "Eloy Lafuente",
        "Tim Hunt",
    ]
    assert [option["key"] for option in first.options] == ["A", "B", "C", "D"]
    # markup in the text stays text (templates escape it)
    assert second.stem == 'Moodle\'s abilities include handling user input that includes <html class="cool"> & images:'
    assert (second.answer, second.source_row, [o["text"] for o in second.options]) == ("A", 8, ["True", "False"])


def test_aiken_errors_give_one_clear_error_per_broken_question():
    items = list(iter_file(MOODLE / "aiken_errors.txt", fmt="aiken", subject="Moodle"))
    errors = [item for item in items if isinstance(item, RowError)]
    records = [item for item in items if not isinstance(item, RowError)]
    assert [(error.row, error.field) for error in errors] == [
        (1, "options"),
        (5, "stem"),
        (14, "answer"),
        (18, "options"),
    ]
    too_few, not_started, unfinished, no_space = (error.message for error in errors)
    assert "too few answers" in too_few and "found only 1 (A)" in too_few
    assert "no question text" in not_started and "line 5" in not_started
    assert "not finished" in unfinished and "ANSWER" in unfinished
    assert "needs a space after 'A)'" in no_space and "line 19" in no_space
    assert all(error.file == "aiken_errors.txt" for error in errors)
    # the one good question between them is still read
    assert [(record.stem, record.answer, record.source_row) for record in records] == [("A good question", "A", 9)]


@pytest.mark.django_db
def test_bank_import_of_a_file_with_broken_questions_writes_nothing():
    report = bank_import(paths=[MOODLE / "aiken_errors.txt"], fmt="aiken", subject="Moodle")
    assert len(report.errors) == 4
    assert report.created == 0 and report.skipped == 4
    assert Question.objects.count() == 0


@pytest.mark.django_db
def test_bank_import_writes_the_good_questions():
    report = bank_import(paths=[MOODLE / "aiken_questions.aiken.txt"], subject="Moodle")
    assert (report.created, report.errors) == (2, [])
    assert sorted(Question.objects.values_list("answer", flat=True)) == ["A", "B"]


def test_several_letters_make_a_multiple_choice_and_unknown_letters_are_named(tmp_path):
    path = tmp_path / "multi.txt"
    path.write_text(
        "Which are prime?\nA. 2\nB. 3\nC. 4\nANSWER: A, B\n\n"
        "Capital of France?\nA) Paris\nB) Rome\nANSWER: E\n\n"
        "Last one\nA. yes\nB. no\n",
        encoding="utf-8",
    )
    items = list(iter_file(path, fmt="aiken", subject="x"))
    assert (items[0].qtype, items[0].answer) == ("multiple_choice", "AB")
    assert isinstance(items[1], RowError) and items[1].row == 7 and "names E" in items[1].message
    assert isinstance(items[2], RowError) and items[2].row == 12 and "end of the file" in items[2].message
    assert len(items) == 3


def test_sniff_wants_answer_lines():
    assert sniff("Q?\nA. one\nB. two\nANSWER: A\n", "q.txt")
    assert not sniff("1.题干\nA.一\nB.二\n[A]\n", "q.txt")
    assert FORMAT.extensions == (".txt", ".aiken", ".aiken.txt")
