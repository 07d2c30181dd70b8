"""A school in the browser: a teacher writes a question with an image and a formula, makes two
classes from roster files, and gives a paper to one of them. The student in that class signs in with
the one-time password, chooses their own, takes the paper and sees the image and the typeset formula;
the student of the other class does not see the paper."""

from __future__ import annotations

import csv
import io
import re

import pytest
from playwright.sync_api import expect

from quizbank.models import PaperAssignment, Question, StudentAccount

pytestmark = pytest.mark.browser

# one red pixel
TINY_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de"
    "0000000c49444154789c63f8cfc0000003010100c9fe92ef0000000049454e44ae426082"
)


def _write_question(page, live_server, tmp_path) -> Question:
    image = tmp_path / "抛物线.png"
    image.write_bytes(TINY_PNG)
    page.goto(f"{live_server.url}/teach/questions/new/")
    page.fill("#id_subject", "数学/函数")
    page.select_option("#id_qtype", "single_choice")
    page.fill("#id_stem", "函数 $y = x^2$ 的图像如下：\n\n")
    page.set_input_files("#image-file", str(image))
    expect(page.locator("#id_stem")).to_have_value(re.compile("/media/question-images/"), timeout=15000)
    expect(page.locator("#stem-preview img")).to_have_count(1, timeout=15000)
    page.fill("#id_options", "A. 开口向上\nB. 开口向下")
    page.fill("#id_answer", "A")
    page.click("#question-form button[type=submit]")
    page.wait_for_load_state("networkidle")
    question = Question.objects.get(stem__startswith="函数 $y = x^2$", is_current=True)
    assert "/media/question-images/" in question.stem and question.stem_format == "markdown"
    return question


def _make_class(page, live_server, tmp_path, name: str, number: str, student: str) -> dict:
    page.goto(f"{live_server.url}/teach/classes/")
    page.fill("#class-form input[name=name]", name)
    page.click("#class-form button[type=submit]")
    page.wait_for_load_state("networkidle")
    roster = tmp_path / f"{number}.csv"
    roster.write_text(f"学号,姓名\n{number},{student}\n", encoding="utf-8-sig")
    page.set_input_files("#roster-form input[name=roster]", str(roster))
    page.click("#roster-form button[type=submit]")
    page.wait_for_load_state("networkidle")
    expect(page.locator(f'#students tr[data-student="{number}"]')).to_have_count(1)
    with page.expect_download() as download:
        page.click("#credentials a")
    rows = list(csv.reader(io.StringIO(download.value.path().read_text(encoding="utf-8-sig"))))
    assert rows[0] == ["学号", "姓名", "班级", "初始密码"] and rows[1][:3] == [number, student, name]
    return {"number": number, "password": rows[1][3]}


def _first_sign_in(page, live_server, login, account: dict) -> None:
    login(page, account["number"], account["password"])
    page.goto(f"{live_server.url}/exams/")
    assert page.url.endswith("/accounts/password/first/")
    page.fill("#id_old_password", account["password"])
    page.fill("#id_new_password1", "my-own-pass-2026")
    page.fill("#id_new_password2", "my-own-pass-2026")
    page.click("#password-form button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert not StudentAccount.objects.get(student_number=account["number"]).must_change_password


def test_a_class_takes_its_paper_with_an_image_and_a_formula(browser, live_server, login, carol, tmp_path):
    teacher = browser.new_context().new_page()
    login(teacher, "carol", "carol-pass-123")
    question = _write_question(teacher, live_server, tmp_path)
    first = _make_class(teacher, live_server, tmp_path, "一班", "20260001", "张三")
    second = _make_class(teacher, live_server, tmp_path, "二班", "20260002", "李四")

    teacher.goto(f"{live_server.url}/teach/papers/new/")
    teacher.fill("#id_title", "函数小测")
    teacher.check(f"#question-{question.pk}")
    teacher.click("#paper-form button[type=submit]")
    teacher.wait_for_load_state("networkidle")
    teacher.select_option("#assign_school_class", label="一班")
    teacher.fill("#assign_time_limit_minutes", "30")
    teacher.click("#assign-form button[type=submit]")
    teacher.wait_for_load_state("networkidle")
    expect(teacher.locator('#assignments tr[data-class="一班"]')).to_have_count(1)
    assignment = PaperAssignment.objects.get()
    assert assignment.school_class.name == "一班" and assignment.time_limit_seconds == 1800

    member = browser.new_context().new_page()
    _first_sign_in(member, live_server, login, first)
    member.goto(f"{live_server.url}/exams/")
    member.click("text=函数小测")
    member.click("#start-button")
    member.wait_for_load_state("networkidle")
    stem = member.locator(".stem").first
    expect(stem.locator(".katex")).not_to_have_count(0, timeout=15000)
    image = stem.locator("img")
    expect(image).to_have_count(1)
    assert image.evaluate("img => img.complete && img.naturalWidth") == 1

    outsider = browser.new_context().new_page()
    _first_sign_in(outsider, live_server, login, second)
    outsider.goto(f"{live_server.url}/exams/")
    expect(outsider.locator("text=函数小测")).to_have_count(0)
    assert outsider.goto(f"{live_server.url}/exams/{assignment.paper_id}/").status == 404
