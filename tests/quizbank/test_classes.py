"""Classes: enrolment from a roster (CSV or xlsx) and by join code, the one-time password changed at
first sign-in, papers assigned to classes with their own window and limit, per-class results, and
banks and papers owned by a teacher and shared with others."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client
from django.utils import timezone

from core.exceptions import ApplicationError
from quizbank.models import Enrolment, PaperMode, QuestionType, SchoolClass, StudentAccount, Subject
from quizbank.services import bank_import, paper_create, question_create, session_start
from quizbank.services.classes import (
    bank_share,
    class_create,
    class_join,
    class_students_import,
    paper_assign,
    paper_share,
)


def _roster(tmp_path: Path, rows: list[list[str]], name: str = "roster.csv") -> Path:
    path = tmp_path / name
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


def _question(stem: str = "1+1=?", subject: str = "数学/加法"):
    return question_create(
        data={
            "subject": subject,
            "qtype": QuestionType.SINGLE_CHOICE,
            "stem": stem,
            "options": [{"key": "A", "text": "1"}, {"key": "B", "text": "2"}],
            "answer": "B",
        }
    )


@pytest.fixture
def erin(django_user_model):
    """erin, another teacher."""
    user = django_user_model.objects.create_user("erin", password="erin-pass-123")
    user.groups.add(Group.objects.get_or_create(name="teacher")[0])
    return user


@pytest.fixture
def class_a(carol):
    return class_create(name="高一(1)班", owner=carol)


# --- enrolment ------------------------------------------------------------------------------------


def test_a_roster_of_40_makes_40_accounts_in_one_class_and_again_makes_none(tmp_path, carol, class_a):
    rows = [["学号", "姓名", "班级"]] + [[f"2026{n:04d}", f"学生{n}", "高一(1)班"] for n in range(1, 41)]
    path = _roster(tmp_path, rows)

    report = class_students_import(path=path, file_name="高一1班.csv", by=carol, school_class=class_a)
    assert len(report.created) == 40 and report.enrolled == 40
    assert Enrolment.objects.filter(school_class=class_a).count() == 40
    student = User.objects.get(username="20260007")
    assert student.first_name == "学生7" and student.groups.filter(name="student").exists()
    assert student.student_account.must_change_password
    password = next(a["password"] for a in report.created if a["number"] == "20260007")
    assert student.check_password(password)
    downloaded = list(csv.reader(io.StringIO(report.credentials_csv().lstrip("\ufeff"))))
    assert downloaded[0] == ["学号", "姓名", "班级", "初始密码"] and len(downloaded) == 41

    again = class_students_import(path=path, file_name="高一1班.csv", by=carol, school_class=class_a)
    assert again.created == [] and again.enrolled == 0 and again.already_enrolled == 40
    assert User.objects.filter(username__startswith="2026").count() == 40
    assert User.objects.get(username="20260007").check_password(password)  # not reset by the second import


def test_a_roster_with_bad_rows_names_each_and_writes_nothing(tmp_path, carol, class_a):
    rows = [["学号", "姓名"], ["20260001", "甲"], ["bad id!", "乙"], ["20260003", ""], ["20260001", "丙"]]
    with pytest.raises(ApplicationError) as refused:
        class_students_import(path=_roster(tmp_path, rows), file_name="r.csv", by=carol, school_class=class_a)
    errors = {(e["line"], e["field"]) for e in refused.value.extra["errors"]}
    assert errors == {(3, "学号"), (4, "姓名"), (5, "学号")}
    assert not User.objects.filter(username="20260001").exists()


def test_a_roster_without_the_columns_is_refused_by_its_header(tmp_path, carol, class_a):
    with pytest.raises(ApplicationError, match="学号 and 姓名"):
        class_students_import(
            path=_roster(tmp_path, [["编号", "名字"], ["1", "甲"]]), file_name="r.csv", by=carol, school_class=class_a
        )


def test_an_xlsx_roster_names_its_classes_and_they_are_made(tmp_path, carol):
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["学号", "姓名", "班级"])
    sheet.append([20260101, "张三", "高二(3)班"])
    sheet.append([20260102, "李四", "高二(4)班"])
    path = tmp_path / "roster.xlsx"
    workbook.save(path)

    report = class_students_import(path=path, file_name="roster.xlsx", by=carol)
    assert len(report.created) == 2
    assert SchoolClass.objects.get(name="高二(3)班").enrolments.get().user.username == "20260101"
    assert SchoolClass.objects.get(name="高二(4)班").owner == carol


def test_a_roster_cannot_take_over_a_teachers_account(tmp_path, carol, class_a):
    with pytest.raises(ApplicationError) as refused:
        class_students_import(
            path=_roster(tmp_path, [["学号", "姓名"], ["carol", "卡罗尔"]]),
            file_name="r.csv",
            by=carol,
            school_class=class_a,
        )
    assert refused.value.extra["errors"][0]["line"] == 2


def test_a_student_joins_with_the_code_once(alice, class_a):
    assert class_join(user=alice, code=class_a.code.lower()) == class_a
    class_join(user=alice, code=class_a.code)
    assert Enrolment.objects.filter(user=alice).count() == 1
    with pytest.raises(ApplicationError, match="no class"):
        class_join(user=alice, code="NOPE00")


def test_the_one_time_password_is_changed_at_first_sign_in(tmp_path, carol, class_a):
    report = class_students_import(
        path=_roster(tmp_path, [["学号", "姓名"], ["20269999", "王五"]]),
        file_name="r.csv",
        by=carol,
        school_class=class_a,
    )
    password = report.created[0]["password"]
    client = Client()
    assert client.post("/accounts/login/", {"username": "20269999", "password": password}).status_code == 302
    response = client.get("/exams/")
    assert response.status_code == 302 and response["Location"] == "/accounts/password/first/"
    changed = client.post(
        "/accounts/password/first/",
        {"old_password": password, "new_password1": "my own pass 2026", "new_password2": "my own pass 2026"},
    )
    assert changed.status_code == 302
    assert not StudentAccount.objects.get(student_number="20269999").must_change_password
    assert client.get("/exams/").status_code == 200


# --- assignment -----------------------------------------------------------------------------------


def test_a_paper_assigned_to_a_class_is_for_its_students_only(alice, bob, carol, class_a):
    Enrolment.objects.create(school_class=class_a, user=alice)
    exam = paper_create(title="一班的考试", questions=[_question()], created_by=carol)
    everyone = paper_create(title="全校练习", questions=[_question("2+2=?")], created_by=carol, mode=PaperMode.PRACTICE)
    paper_assign(paper=exam, school_class=class_a, by=carol)

    alices, bobs = Client(), Client()
    alices.force_login(alice)
    bobs.force_login(bob)
    assert "一班的考试" in alices.get("/exams/").content.decode()
    bobs_list = bobs.get("/exams/").content.decode()
    assert "一班的考试" not in bobs_list and "全校练习" in bobs_list
    assert bobs.get(f"/exams/{exam.pk}/").status_code == 404
    assert bobs.post(f"/exams/{exam.pk}/start").status_code in (403, 404)
    api = bobs.post(f"/api/v1/papers/{exam.pk}/sessions")
    assert api.status_code in (400, 403, 404) and not exam.sessions.filter(user=bob).exists()
    assert [p["title"] for p in bobs.get("/api/v1/papers").json()] == ["全校练习"]
    with pytest.raises(ApplicationError, match="not available"):
        session_start(user=bob, paper=exam)
    assert session_start(user=alice, paper=exam).user == alice
    assert everyone.pk  # unassigned: every student's


def test_one_papers_visibility_is_the_lists_for_every_kind_of_paper_and_student(alice, bob, carol, class_a):
    """paper_for_student decides one paper in simple queries; papers_for_student lists them in SQL:
    the two must agree for published, unpublished, assigned, unassigned and personal papers."""
    from quizbank.selectors.exams import paper_for_student, papers_for_student
    from quizbank.services import paper_update

    Enrolment.objects.create(school_class=class_a, user=alice)
    other = class_create(name="高一(2)班", owner=carol)
    papers = [
        paper_create(title="全校", questions=[_question("1")], created_by=carol),
        paper_create(title="一班", questions=[_question("2")], created_by=carol),
        paper_create(title="二班", questions=[_question("3")], created_by=carol),
        paper_create(title="两个班", questions=[_question("4")], created_by=carol),
        paper_create(title="未发布", questions=[_question("5")], created_by=carol),
        paper_create(title="alice 自己的", questions=[_question("6")], owner=alice),
        paper_create(title="bob 自己的", questions=[_question("7")], owner=bob),
    ]
    paper_assign(paper=papers[1], school_class=class_a, by=carol)
    paper_assign(paper=papers[2], school_class=other, by=carol)
    paper_assign(paper=papers[3], school_class=class_a, by=carol)
    paper_assign(paper=papers[3], school_class=other, by=carol)
    paper_update(paper=papers[4], published=False)
    for student, sees in ((alice, {"全校", "一班", "两个班", "alice 自己的"}), (bob, {"全校", "bob 自己的"})):
        listed = {paper.title for paper in papers_for_student(user=student)}
        one_by_one = {paper.title for paper in papers if paper_for_student(user=student, paper_id=paper.pk)}
        assert listed == one_by_one == sees


def test_a_class_gets_its_own_window_and_time_limit(alice, bob, carol, class_a):
    now = timezone.now()
    other = class_create(name="高一(2)班", owner=carol)
    Enrolment.objects.create(school_class=class_a, user=alice)
    Enrolment.objects.create(school_class=other, user=bob)
    exam = paper_create(title="分班考试", questions=[_question()], created_by=carol, time_limit_seconds=3600)
    paper_assign(paper=exam, school_class=class_a, by=carol, time_limit_seconds=300)
    paper_assign(
        paper=exam, school_class=other, by=carol, close_at=now - timedelta(minutes=1), open_at=now - timedelta(hours=1)
    )

    session = session_start(user=alice, paper=exam, now=now)
    assert session.deadline == now + timedelta(seconds=300)
    with pytest.raises(ApplicationError, match="closed"):
        session_start(user=bob, paper=exam, now=now)

    # a new limit for the class moves the deadline of the attempt in progress
    paper_assign(paper=exam, school_class=class_a, by=carol, time_limit_seconds=600)
    session.refresh_from_db()
    assert session.deadline == now + timedelta(seconds=600)


def test_results_per_class_in_xlsx(alice, bob, carol, class_a):
    from openpyxl import load_workbook

    Enrolment.objects.create(school_class=class_a, user=alice)
    exam = paper_create(title="考试", questions=[_question()], created_by=carol)
    for student in (alice, bob):
        session_start(user=student, paper=exam)
    client = Client()
    client.force_login(carol)
    response = client.get(f"/teach/papers/{exam.pk}/results.xlsx?class={class_a.pk}")
    assert response.status_code == 200
    workbook = load_workbook(io.BytesIO(response.content))
    students = [row[0] for row in workbook["成绩"].iter_rows(min_row=2, values_only=True)]
    assert students == ["alice"]
    page = client.get(f"/teach/papers/{exam.pk}/?class={class_a.pk}").content.decode()
    assert 'data-student="alice"' in page and 'data-student="bob"' not in page


def test_a_teacher_assigns_and_shares_from_the_paper_page(carol, erin, class_a):
    exam = paper_create(title="卷", questions=[_question()], created_by=carol)
    client = Client()
    client.force_login(carol)
    assert (
        client.post(
            f"/teach/papers/{exam.pk}/assign", {"school_class": class_a.pk, "time_limit_minutes": "40"}
        ).status_code
        == 302
    )
    assignment = exam.assignments.get()
    assert assignment.school_class == class_a and assignment.time_limit_seconds == 2400
    assert client.post(f"/teach/papers/{exam.pk}/share", {"teacher": "erin", "level": "view"}).status_code == 302
    assert exam.shares.get().teacher == erin


# --- ownership and sharing ------------------------------------------------------------------------


def test_a_teacher_cannot_edit_another_teachers_unshared_bank(carol, erin, tmp_path):
    bank_import(paths=[_bank_file(tmp_path)], owner=carol)
    root = Subject.objects.get(path="卡罗尔题库")
    assert root.owner == carol
    question = root.children.get().questions.get()
    erins = Client()
    erins.force_login(erin)
    assert erins.get(f"/api/v1/questions/{question.pk}").status_code == 403
    assert (
        erins.patch(f"/api/v1/questions/{question.pk}", {"stem": "改"}, content_type="application/json").status_code
        == 403
    )
    assert all(q["id"] != question.pk for q in erins.get("/api/v1/questions").json()["results"])
    # nor write into it by an import
    report = bank_import(paths=[_bank_file(tmp_path, stem="另一题")], owner=erin)
    assert report.created == 0 and "another teacher's" in report.errors[0].message

    bank_share(subject=root, teacher=erin, level="view", by=carol)
    assert erins.get(f"/api/v1/questions/{question.pk}").status_code == 200
    assert (
        erins.patch(f"/api/v1/questions/{question.pk}", {"stem": "改"}, content_type="application/json").status_code
        == 403
    )
    bank_share(subject=root, teacher=erin, level="edit", by=carol)
    assert (
        erins.patch(f"/api/v1/questions/{question.pk}", {"stem": "改"}, content_type="application/json").status_code
        == 200
    )
    with pytest.raises(ApplicationError, match="owner"):
        bank_share(subject=root, teacher=erin, level="edit", by=erin)


def test_another_teachers_paper_is_closed_until_shared(carol, erin):
    exam = paper_create(title="卡罗尔的卷", questions=[_question()], created_by=carol)
    erins = Client()
    erins.force_login(erin)
    assert "卡罗尔的卷" not in erins.get("/teach/papers/").content.decode()
    assert erins.get(f"/teach/papers/{exam.pk}/").status_code == 403
    assert erins.get(f"/api/v1/papers/{exam.pk}/results").status_code == 403
    paper_share(paper=exam, teacher=erin, level="view", by=carol)
    assert erins.get(f"/teach/papers/{exam.pk}/").status_code == 200
    assert erins.post(f"/teach/papers/{exam.pk}/", {"description": "改"}).status_code == 403
    assert (
        erins.patch(f"/api/v1/papers/{exam.pk}", {"description": "改"}, content_type="application/json").status_code
        == 403
    )


def _bank_file(tmp_path: Path, stem: str = "卡罗尔的题") -> Path:
    import json

    path = tmp_path / f"{stem}.json"
    record = {
        "subject": "卡罗尔题库/代数",
        "type": "single_choice",
        "stem": stem,
        "options": [{"key": "A", "text": "1"}, {"key": "B", "text": "2"}],
        "answer": "B",
    }
    bank = {"format": "quizsite-bank", "version": 1, "questions": [record]}
    path.write_text(json.dumps(bank, ensure_ascii=False), encoding="utf-8")
    return path


def test_the_banks_page_shares_a_teachers_own_bank_and_a_school_bank_can_be_claimed(carol, erin, tmp_path):
    bank_import(paths=[_bank_file(tmp_path)], owner=carol)
    _question(subject="学校题库/语文")
    mine = Subject.objects.get(path="卡罗尔题库")
    school = Subject.objects.get(path="学校题库")
    carols, erins = Client(), Client()
    carols.force_login(carol)
    erins.force_login(erin)
    assert 'data-bank="卡罗尔题库"' not in erins.get("/teach/banks/").content.decode()
    assert erins.post(f"/teach/banks/{mine.pk}/share", {"teacher": "erin", "level": "edit"}).status_code == 403
    assert carols.post(f"/teach/banks/{mine.pk}/share", {"teacher": "erin", "level": "use"}).status_code == 302
    assert 'data-bank="卡罗尔题库"' in erins.get("/teach/banks/").content.decode()
    assert erins.post(f"/teach/banks/{school.pk}/claim").status_code == 302
    school.refresh_from_db()
    assert school.owner == erin
    assert carols.post(f"/teach/banks/{school.pk}/claim").status_code == 403


def test_one_time_passwords_are_hashed_quickly_and_the_chosen_one_the_default_way(tmp_path, carol, class_a, settings):
    from django.conf import global_settings

    settings.PASSWORD_HASHERS = [*global_settings.PASSWORD_HASHERS, "quizbank.hashers.OneTimePasswordHasher"]
    report = class_students_import(
        path=_roster(tmp_path, [["学号", "姓名"], ["20268888", "赵六"]]),
        file_name="r.csv",
        by=carol,
        school_class=class_a,
    )
    student = User.objects.get(username="20268888")
    assert student.password.startswith("pbkdf2_sha256_onetime$20000$")
    assert student.check_password(report.created[0]["password"])
    student.set_password("my own pass 2026")
    student.save()
    assert student.password.startswith("pbkdf2_sha256$")
