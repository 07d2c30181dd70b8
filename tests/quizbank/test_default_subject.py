"""Files that name no subject import into 未分类/<file name> (or the teacher's default), with one warning."""

import json

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse

from quizbank.models import Question
from quizbank.services import bank_import

pytestmark = pytest.mark.django_db

AIKEN = """What is 1 + 1?
A. 1
B. 2
ANSWER: B

Which is a prime?
A) 4
B) 7
ANSWER: B
"""
GIFT = """::Q1:: 2 + 2 = {=4 ~3 ~5}

The sun is a star. {T}
"""


def write_xlsx(path):
    workbook = openpyxl.Workbook()
    workbook.active.append(["题目", "类型", "答案", "选项A", "选项B"])
    workbook.active.append(["1 + 2 = ?", "单选题", "B", "2", "3"])
    workbook.save(path)
    return path


def run_command(*args):
    out, err = _Capture(), _Capture()
    call_command("import_questions", *map(str, args), stdout=out, stderr=err)  # raises on a non-zero exit
    return out.text, err.text


class _Capture:
    def __init__(self):
        self.text = ""

    def write(self, value):
        self.text += value

    def flush(self):
        pass


@pytest.mark.parametrize(
    ("name", "content", "count"),
    [("期中 复习.aiken.txt", AIKEN, 2), ("week1.gift", GIFT, 2), ("bank.xlsx", None, 1)],
)
def test_a_file_without_subjects_imports_into_the_default_subject(tmp_path, name, content, count):
    path = tmp_path / name
    if content is None:
        write_xlsx(path)
    else:
        path.write_text(content, encoding="utf-8")
    out, err = run_command(path)
    stem = name.rsplit(".", 1)[0]
    assert f"created {count}" in out
    assert err.count("warning:") == 1
    assert f"{count} question{'s' if count > 1 else ''} named no subject and went to 未分类/{stem}" in err
    assert set(Question.objects.values_list("subject__path", flat=True)) == {f"未分类/{stem}"}


def test_the_teachers_default_subject_wins_and_needs_no_warning(tmp_path):
    path = tmp_path / "quiz.txt"
    path.write_text(AIKEN, encoding="utf-8")
    out, err = run_command(path, "--subject", "数学/加法")
    assert "created 2" in out and "warning" not in err
    assert set(Question.objects.values_list("subject__path", flat=True)) == {"数学/加法"}


def test_questions_with_subjects_keep_them_and_the_rest_are_counted(tmp_path):
    path = tmp_path / "mixed.json"
    rows = [
        {"type": "short_answer", "stem": "有学科", "answer": "a", "subject": "语文"},
        {"type": "short_answer", "stem": "无学科", "answer": "b"},
    ]
    bank = {"format": "quizsite-bank", "version": 1, "questions": rows}
    path.write_text(json.dumps(bank, ensure_ascii=False), encoding="utf-8")
    report = bank_import(paths=[path])
    assert report.created == 2 and not report.errors
    assert report.warnings == [
        "mixed.json: 1 question named no subject and went to 未分类/mixed; "
        "choose a default subject to place them elsewhere"
    ]
    assert report.as_dict()["warnings"] == report.warnings
    assert Question.objects.get(stem__contains="无学科").subject.path == "未分类/mixed"


def test_the_import_page_shows_the_warning_without_command_line_flags(client, carol):
    client.force_login(carol)
    upload = SimpleUploadedFile("单元测验.txt", AIKEN.encode())
    page = client.post(reverse("bank-import"), {"file": upload}, follow=True).content.decode()
    assert "新增 2 题" in page
    assert 'id="warnings"' in page and "未分类/单元测验" in page
    assert "--" not in page.split('id="warnings"')[1].split("</ul>")[0]
    assert set(Question.objects.values_list("subject__path", flat=True)) == {"未分类/单元测验"}
