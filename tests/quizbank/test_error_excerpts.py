"""Row errors quote the row they are about, beside file, row and field."""

import json

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from quizbank.importers import RowError, iter_file
from quizbank.importers.excerpts import EXCERPT_CHARS, LineQuoter, excerpt

pytestmark = pytest.mark.django_db

AIKEN = """What is 1 + 1?
A. 1
B. 2
ANSWER: Z

Which is a prime?
A) 4
B) 7
ANSWER: B
"""


def errors_of(path, **options):
    return [item for item in iter_file(path, **options) if isinstance(item, RowError)]


def test_an_excerpt_is_one_short_line():
    assert excerpt("  a\n\tb  ") == "a b"
    long = excerpt("字" * 200)
    assert len(long) == EXCERPT_CHARS and long.endswith("…")


def test_a_text_format_quotes_the_line(tmp_path):
    path = tmp_path / "quiz.txt"
    path.write_text(AIKEN, encoding="utf-8")
    (error,) = errors_of(path, fmt="aiken", subject="数学")
    assert error.row is not None and error.excerpt
    assert error.excerpt in AIKEN.splitlines()[error.row - 1]
    assert error.as_dict()["excerpt"] == error.excerpt


def test_a_record_that_fails_validation_quotes_its_question(tmp_path):
    path = tmp_path / "bank.json"
    questions = [{"type": "single_choice", "stem": "三加四等于几", "options": ["6", "7"], "answer": "Q"}]
    bank = {"format": "quizsite-bank", "version": 1, "subject": "数学", "questions": questions}
    path.write_text(json.dumps(bank, ensure_ascii=False), encoding="utf-8")
    errors = errors_of(path)
    assert errors and all(error.excerpt == "三加四等于几" for error in errors)


def test_a_spreadsheet_row_quotes_its_cells(tmp_path):
    path = tmp_path / "bank.xlsx"
    workbook = openpyxl.Workbook()
    workbook.active.append(["题目", "类型", "答案", "选项A", "选项B"])
    workbook.active.append(["1 + 2 = ?", "单选题", "Z", "2", "3"])
    workbook.save(path)
    (error,) = errors_of(path)
    assert (error.row, error.excerpt) == (2, "1 + 2 = ? | 单选题 | Z | 2 | 3")


def test_lines_are_quoted_in_any_order_and_from_gbk(tmp_path):
    path = tmp_path / "gbk.txt"
    path.write_bytes("第一行\n第二行\n第三行\n".encode("gb18030"))
    quoter = LineQuoter(path, file_name="gbk.txt")
    assert [quoter.quote(3), quoter.quote(1), quoter.quote(2), quoter.quote(9)] == ["第三行", "第一行", "第二行", ""]
    quoter.close()


def test_the_status_page_shows_the_excerpt(client, carol):
    client.force_login(carol)
    upload = SimpleUploadedFile("quiz.txt", AIKEN.encode())
    page = client.post(reverse("bank-import"), {"file": upload, "format": "aiken"}, follow=True).content.decode()
    assert '<td class="excerpt">' in page and "ANSWER: Z" in page
