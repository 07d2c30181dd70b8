"""Moodle's missing-word format: its fixture files, Moodle's weight syntax, errors."""

from pathlib import Path

import pytest

from quizbank.importers import iter_file, missingword, parse_file
from quizbank.importers.base import QuestionRecord, RowError
from quizbank.models import QuestionType
from quizbank.normalize import record_hash
from tests.conftest import SHARED

pytestmark = pytest.mark.skipif(not (SHARED / "formats").is_dir(), reason="../shared/formats is absent")

MOODLE = SHARED / "formats" / "moodle"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "words.txt"
    path.write_text(text, encoding="utf-8")
    return path


def test_missingword1_is_one_single_choice_with_the_gap_in_the_sentence():
    (record,) = parse_file(MOODLE / "missingword1.txt", fmt="missingword")
    assert record.qtype == QuestionType.SINGLE_CHOICE
    assert record.stem == (
        "As soon as we begin to explore our body parts as infants we become students of _____, "
        "and in a sense we remain students for life."
    )
    assert record.answer == "A"
    assert [(o["key"], o["text"], o["fraction"]) for o in record.options] == [
        ("A", "anatomy and physiology", 1.0),
        ("B", "reflexology", 0.0),
        ("C", "science", 0.0),
        ("D", "experiment", 0.0),
    ]
    assert (record.source_row, record.subject) == (1, f"未分类/{record.source_file.rsplit('.', 1)[0]}")


def test_missingword2_is_one_short_answer():
    (record,) = parse_file(MOODLE / "missingword2.txt", fmt="missingword", subject="Moodle")
    assert record.qtype == QuestionType.SHORT_ANSWER
    assert record.stem == (
        "You can use the missing word format to import questions into both Moodle's Question bank and _____ activity."
    )
    assert record.answer == "Lesson"
    assert record.answer_data["answers"] == [{"text": "Lesson", "fraction": 1.0, "feedback": ""}]
    assert record.subject == "Moodle"


@pytest.mark.parametrize("name", ["missingword1.txt", "missingword2.txt"])
def test_gift_reads_the_missing_word_files_as_the_same_questions(name):
    as_missingword = parse_file(MOODLE / name, fmt="missingword")
    as_gift = parse_file(MOODLE / name, fmt="gift")
    assert [record_hash(record) for record in as_missingword] == [record_hash(record) for record in as_gift]


def test_never_sniffed_so_gift_reads_unlabelled_files():
    for name in ("missingword1.txt", "missingword2.txt"):
        assert not missingword.sniff((MOODLE / name).read_text(encoding="utf-8"), name)


def test_moodle_weights_feedback_and_protected_digits(tmp_path):
    (record,) = parse_file(
        write(tmp_path, "This is {=the best answer#spot on ~75%a good answer#nearly ~_1984 ~a wrong one} here.\n"),
        fmt="missingword",
    )
    assert record.answer == "A"
    assert [(o["text"], o["fraction"], o["feedback"]) for o in record.options] == [
        ("the best answer", 1.0, "spot on"),
        ("a good answer", 0.75, "nearly"),
        ("1984", 0.0, ""),
        ("a wrong one", 0.0, ""),
    ]


def test_errors_name_the_line(tmp_path):
    text = "No braces at all.\n\nFine {=yes}.\n\nBroken {=a ~b\nand more\n\nNone right {~a ~b}.\n\nEmpty {}.\n"
    items = list(iter_file(write(tmp_path, text), fmt="missingword"))
    assert [item.source_row for item in items if isinstance(item, QuestionRecord)] == [3]
    errors = {item.row: item.message for item in items if isinstance(item, RowError)}
    assert set(errors) == {1, 5, 8, 10}
    assert "no '{'" in errors[1]
    assert "'{' on line 5 is never closed" in errors[5]
    assert "no right answer on line 8" in errors[8]
    assert "no answers between the braces on line 10" in errors[10]
