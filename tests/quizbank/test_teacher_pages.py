"""The teacher's pages for papers: create and edit, results, CSV, item statistics, grading."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime
from decimal import Decimal
from statistics import correlation
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from quizbank import prompts
from quizbank.models import Answer, GradeStatus, Paper, PaperKind, PaperRule, QuestionType, QuizSession
from quizbank.prompt_inputs import grading_prompt_parts
from quizbank.services import (
    paper_create,
    question_create,
    session_answer_save,
    session_finish,
    session_start,
)
from quizbank.services.papers import PAPER_SETTINGS
from quizbank.teacher_views import PaperSettingsForm, _csv_cell

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
ESSAY = {
    "subject": "语文/写作",
    "qtype": "essay",
    "stem": "谈谈你对诚信的理解。",
    "answer": "诚信是立身之本……",
    "score": 5,
    "answer_data": {
        "rubric": [
            {"id": "r1", "criterion": "观点明确", "points": 2},
            {"id": "r2", "criterion": "论证充分", "points": 3},
        ],
        "grading_instructions": "按要点给分",
    },
}


def student(django_user_model, username: str):
    user = django_user_model.objects.create_user(username, password=f"{username}-pass-123")
    user.groups.add(Group.objects.get_or_create(name="student")[0])
    return user


def right(question) -> str:
    return question.answer


def wrong(question) -> str:
    return next(key for key in question.option_keys if key not in question.answer)


def take(user, paper, responses: dict[int, object]) -> QuizSession:
    """One finished attempt with these responses by position (the others left unanswered)."""
    session = session_start(user=user, paper=paper)
    for position, response in responses.items():
        session_answer_save(user=user, session_id=session.pk, position=position, response=response)
    return session_finish(user=user, session_id=session.pk)


def row_of(html: str, attribute: str, value) -> str:
    match = re.search(rf'<tr[^>]*{attribute}="{value}"[^>]*>(.*?)</tr>', html, re.S)
    assert match, f"no row with {attribute}={value}"
    return match.group(1)


def cell(row: str, css_class: str) -> str:
    match = re.search(rf'<td class="num {css_class}">(.*?)</td>', row, re.S)
    assert match, f"no {css_class} cell in {row}"
    return re.sub(r"<[^>]+>", "", match.group(1)).strip()


@pytest.fixture
def essay_paper(demo_bank, carol):
    """A paper of one single-choice question (2 points) and one essay (5 points)."""
    essay = question_create(data=ESSAY)
    return paper_create(title="期中测验", questions=[demo_bank[0], essay], created_by=carol)


@pytest.fixture
def pending_essay(essay_paper, alice, demo_bank):
    """alice's finished attempt: the choice right (2), the essay waiting for a teacher."""
    session = take(alice, essay_paper, {1: right(demo_bank[0]), 2: "诚信就是说到做到。"})
    return Answer.objects.get(session=session, item__position=2)


# ---------------------------------------------------------------------------------------------- permissions


def _teacher_urls(paper: Paper, answer: Answer) -> list[str]:
    return [
        reverse("teacher-papers"),
        reverse("teacher-paper-new"),
        reverse("teacher-paper", args=[paper.pk]),
        reverse("teacher-paper-csv", args=[paper.pk]),
        reverse("teacher-paper-statistics", args=[paper.pk]),
        reverse("teacher-grading"),
        reverse("teacher-grading") + f"?paper={paper.pk}",
        reverse("teacher-answer", args=[answer.pk]),
    ]


def test_anonymous_users_are_sent_to_log_in(client, essay_paper, pending_essay):
    for url in _teacher_urls(essay_paper, pending_essay):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/"), url


def test_students_are_refused(client, alice, essay_paper, pending_essay):
    client.force_login(alice)
    for url in _teacher_urls(essay_paper, pending_essay):
        assert client.get(url).status_code == 403, url
    graded = client.post(reverse("teacher-answer-grade", args=[pending_essay.pk]), {"score": "5"})
    assert graded.status_code == 403
    pending_essay.refresh_from_db()
    assert pending_essay.grade_status == GradeStatus.PENDING
    assert client.post(reverse("teacher-paper", args=[essay_paper.pk]), {"mode": "practice"}).status_code == 403


@pytest.mark.parametrize("persona", ["carol", "dave"])
def test_teachers_and_admins_see_every_page(client, request, persona, essay_paper, pending_essay):
    client.force_login(request.getfixturevalue(persona))
    for url in _teacher_urls(essay_paper, pending_essay):
        assert client.get(url).status_code == 200, url


def test_the_paper_list_counts_sessions(client, carol, alice, bob, essay_paper, pending_essay):
    session_start(user=bob, paper=essay_paper)  # still answering
    client.force_login(carol)
    html = client.get(reverse("teacher-papers")).content.decode()
    row = row_of(html, "data-paper", essay_paper.pk)
    assert "期中测验" in row
    assert cell(row, "finished") == "1" and cell(row, "open") == "1"


# ---------------------------------------------------------------------------------------------- creating papers


def test_the_settings_form_covers_every_paper_setting():
    fields = {PaperSettingsForm.SETTING_OF_FIELD.get(name, name) for name in PaperSettingsForm.base_fields}
    assert fields == set(PAPER_SETTINGS)


def _settings(**overrides) -> dict:
    data = {
        "mode": "exam",
        "published": "on",
        "attempts_allowed": "1",
        "grading_method": "highest",
        "navigation": "free",
        "overdue_rule": "autosubmit",
        "grace_seconds": "0",
        "multiple_choice_policy": "partial_subset",
        "review_score": "immediately",
        "review_correctness": "after_close",
        "review_answer": "after_close",
        "review_explanation": "after_close",
    }
    data.update(overrides)
    return data


def _no_rules() -> dict:
    return {
        "rules-TOTAL_FORMS": "4",
        "rules-INITIAL_FORMS": "0",
        "rules-MIN_NUM_FORMS": "0",
        "rules-MAX_NUM_FORMS": "1000",
    }


def test_the_search_lists_questions_to_tick(client, carol, demo_bank):
    client.force_login(carol)
    response = client.get(reverse("teacher-paper-new"), {"subject": "数学/几何"})
    html = response.content.decode()
    assert html.count('name="questions"') == 25
    geometry = next(q for q in demo_bank if q.subject.path == "数学/几何")
    other = next(q for q in demo_bank if q.subject.path != "数学/几何")
    assert f'id="question-{geometry.pk}"' in html and f'id="question-{other.pk}"' not in html


def test_creating_a_fixed_paper(client, carol, demo_bank):
    client.force_login(carol)
    first, third = demo_bank[0], demo_bank[2]
    data = {
        "title": "单元测验",
        "kind": "fixed",
        "questions": [str(third.pk), str(first.pk)],
        f"score_{third.pk}": "3",
        f"score_{first.pk}": "",
        "open_at": "2030-03-01T08:00",
        "close_at": "2030-03-01T10:00",
        "time_limit_minutes": "45",
        **_settings(attempts_allowed="2", shuffle_options="on", review_answer="never"),
        **_no_rules(),
    }
    response = client.post(reverse("teacher-paper-new"), data)
    paper = Paper.objects.get(title="单元测验")
    assert response.status_code == 302 and response["Location"] == reverse("teacher-paper", args=[paper.pk])
    assert paper.kind == PaperKind.FIXED and paper.created_by == carol
    assert [(item.question_id, item.score) for item in paper.items.all()] == [
        (third.pk, Decimal("3")),
        (first.pk, first.score),
    ]
    assert paper.open_at == datetime(2030, 3, 1, 8, 0, tzinfo=SHANGHAI)
    assert paper.close_at == datetime(2030, 3, 1, 10, 0, tzinfo=SHANGHAI)
    assert paper.time_limit_seconds == 45 * 60
    assert paper.attempts_allowed == 2 and paper.shuffle_options is True and paper.review_answer == "never"


def test_a_fixed_paper_needs_questions(client, carol, demo_bank):
    client.force_login(carol)
    response = client.post(
        reverse("teacher-paper-new"), {"title": "空卷", "kind": "fixed", **_settings(), **_no_rules()}
    )
    assert response.status_code == 200 and response.context["form"].errors["questions"]
    assert not Paper.objects.exists()


def test_creating_a_random_paper(client, carol, demo_bank):
    client.force_login(carol)
    data = {
        "title": "随机练习",
        "kind": "random",
        **_settings(mode="practice"),
        **_no_rules(),
        "rules-0-subject": "数学/几何",
        "rules-0-qtype": "single_choice",
        "rules-0-count": "3",
        "rules-0-score": "2",
        "rules-1-subject": "数学",
        "rules-1-count": "2",
        "rules-1-score": "1",
    }
    response = client.post(reverse("teacher-paper-new"), data)
    assert response.status_code == 302, (response.context["form"].errors, response.context["rules"].errors)
    paper = Paper.objects.get(title="随机练习")
    assert response.status_code == 302
    assert paper.kind == PaperKind.RANDOM and paper.mode == "practice"
    rules = list(PaperRule.objects.filter(paper=paper).select_related("subject"))
    assert [(r.subject.path, r.qtype, r.count, r.score) for r in rules] == [
        ("数学/几何", QuestionType.SINGLE_CHOICE, 3, Decimal("2")),
        ("数学", "", 2, Decimal("1")),
    ]


def test_a_rule_the_bank_cannot_fill_is_refused_and_nothing_is_written(client, carol, demo_bank):
    client.force_login(carol)
    data = {
        "title": "太多题",
        "kind": "random",
        **_settings(),
        **_no_rules(),
        "rules-0-subject": "数学/几何",
        "rules-0-count": "26",
        "rules-0-score": "1",
    }
    response = client.post(reverse("teacher-paper-new"), data)
    assert response.status_code == 200
    assert "the bank has 25" in " ".join(response.context["form"].non_field_errors())
    assert not Paper.objects.exists() and not PaperRule.objects.exists()


def test_a_paper_that_closes_before_it_opens_is_refused(client, carol, demo_bank):
    client.force_login(carol)
    data = {
        "title": "时间颠倒",
        "kind": "fixed",
        "questions": [str(demo_bank[0].pk)],
        "open_at": "2030-03-01T10:00",
        "close_at": "2030-03-01T08:00",
        **_settings(),
        **_no_rules(),
    }
    response = client.post(reverse("teacher-paper-new"), data)
    assert response.status_code == 200
    assert response.context["form"].errors["close_at"]
    assert f'id="question-{demo_bank[0].pk}" checked' in response.content.decode()  # the choice is kept
    assert not Paper.objects.exists()


# ---------------------------------------------------------------------------------------------- results


def test_results_show_every_session_and_the_grade(client, carol, alice, bob, demo_bank):
    first, second = demo_bank[0], demo_bank[1]
    paper = paper_create(title="周测", questions=[first, second], created_by=carol, attempts_allowed=2)
    alice_first = take(alice, paper, {1: right(first), 2: wrong(second)})
    alice_second = take(alice, paper, {1: right(first), 2: right(second)})
    bob_open = session_start(user=bob, paper=paper)
    client.force_login(carol)
    html = client.get(reverse("teacher-paper", args=[paper.pk])).content.decode()
    worth = first.score + second.score
    assert cell(row_of(html, "data-session", alice_first.pk), "score") == f"{first.score} / {worth}"
    assert cell(row_of(html, "data-session", alice_second.pk), "score") == f"{worth} / {worth}"
    assert "进行中" in row_of(html, "data-session", bob_open.pk)
    # Highest of alice's attempts; bob has none finished.
    grades = html.split('id="grades"')[1]
    assert re.search(rf'data-student="alice".*?class="num grade">{worth}<', grades, re.S)
    assert re.search(r'data-student="bob".*?class="num grade">—<', grades, re.S)
    answer = Answer.objects.get(session=alice_first, item__position=2)
    assert reverse("teacher-answer", args=[answer.pk]) in html


def test_editing_settings_changes_only_what_was_changed(client, carol, demo_bank):
    paper = paper_create(title="周测", questions=[demo_bank[0]], created_by=carol, time_limit_seconds=90)
    client.force_login(carol)
    page = client.get(reverse("teacher-paper", args=[paper.pk]))
    # What the browser sends back for the form as shown (an unticked box is not sent at all).
    initial = page.context["form"].initial.items()
    data = {name: str(value) for name, value in initial if value is not None and value is not False}
    data.update(close_at="2030-05-01T12:00", navigation="sequential", published="on")
    response = client.post(reverse("teacher-paper", args=[paper.pk]), data)
    assert response.status_code == 302, response.context["form"].errors
    paper.refresh_from_db()
    assert paper.navigation == "sequential" and paper.close_at == datetime(2030, 5, 1, 12, tzinfo=SHANGHAI)
    assert paper.time_limit_seconds == 90  # shown as 1.50 minutes and left alone

    refused = client.post(reverse("teacher-paper", args=[paper.pk]), {**data, "open_at": "2030-06-01T08:00"})
    assert refused.status_code == 200 and refused.context["form"].errors["close_at"]
    paper.refresh_from_db()
    assert paper.open_at is None


def test_csv_neutralises_cells_a_spreadsheet_would_run(client, carol, alice, demo_bank):
    title = '=HYPERLINK("http://example.invalid","成绩")'
    paper = paper_create(title=title, questions=[demo_bank[0]], created_by=carol)
    take(alice, paper, {1: right(demo_bank[0])})
    client.force_login(carol)
    response = client.get(reverse("teacher-paper-csv", args=[paper.pk]))
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["paper", "student", "attempt"]
    assert rows[1][0] == "'" + title
    assert rows[1][1:3] == ["alice", "1"] and rows[1][6] == str(demo_bank[0].score)
    assert [_csv_cell(text) for text in ("+1", "-1", "@SUM(A1)", "a=b", "")] == ["'+1", "'-1", "'@SUM(A1)", "a=b", ""]


# ---------------------------------------------------------------------------------------------- statistics


def test_statistics_report_facility_and_discrimination(client, carol, django_user_model, demo_bank):
    questions = demo_bank[:5]
    paper = paper_create(title="统计", questions=questions, scores=[Decimal(1)] * 5, created_by=carol)
    # Rows are students from strongest to weakest; question 2 is right only for the weakest.
    marks = [
        [1, 0, 1, 1, 1],
        [1, 0, 0, 1, 1],
        [0, 0, 0, 0, 1],
        [0, 1, 0, 0, 0],
    ]
    for number, row in enumerate(marks):
        user = student(django_user_model, f"student{number}")
        responses = {
            pos: (right if mark else wrong)(q) for pos, (q, mark) in enumerate(zip(questions, row, strict=True), 1)
        }
        take(user, paper, responses)

    client.force_login(carol)
    html = client.get(reverse("teacher-paper-statistics", args=[paper.pk])).content.decode()
    totals = [sum(row) for row in marks]
    for column, question in enumerate(questions):
        item = [row[column] for row in marks]
        facility = sum(item) / len(item)
        discrimination = correlation(item, [total - mark for total, mark in zip(totals, item, strict=True)])
        row = row_of(html, "data-question", question.pk)
        assert cell(row, "attempts") == "4"
        assert cell(row, "mean") == f"{facility:.2f} / 1.00"
        assert cell(row, "facility") == f"{facility * 100:.1f}%"
        assert cell(row, "discrimination") == f"{discrimination:.2f}"
        assert ('data-flagged="true"' in html.split(f'data-question="{question.pk}"')[1][:30]) == (discrimination < 0)
    assert cell(row_of(html, "data-question", questions[0].pk), "discrimination") == "0.90"
    assert cell(row_of(html, "data-question", questions[1].pk), "discrimination") == "-0.73"
    assert html.count('data-flagged="true"') == 1 and html.count('class="flag"') == 1


# ---------------------------------------------------------------------------------------------- grading


def test_the_queue_shows_what_a_teacher_needs_to_grade(client, carol, essay_paper, pending_essay):
    client.force_login(carol)
    html = client.get(reverse("teacher-grading"), {"paper": essay_paper.pk}).content.decode()
    article = html.split(f'id="answer-{pending_essay.pk}"')[1]
    for text in ("alice", ESSAY["stem"], ESSAY["answer"], "观点明确", "论证充分", "按要点给分", "诚信就是说到做到。"):
        assert text in article, text
    assert reverse("teacher-answer-grade", args=[pending_essay.pk]) in article


def test_the_teacher_sees_the_rubric_the_model_grades_against(client, carol, alice, demo_bank):
    """Without a rubric the model grades one "overall" criterion worth the item; the teacher sees the same."""
    essay = question_create(data={**ESSAY, "answer_data": {}})
    paper = paper_create(title="随堂练习", questions=[essay], created_by=carol)
    answer = Answer.objects.get(session=take(alice, paper, {1: "诚信很重要。"}), item__position=1)
    prompt_rubric = grading_prompt_parts(answer, examples=0)["rubric"]
    assert [entry["id"] for entry in prompt_rubric] == [prompts.OVERALL_CRITERION]
    client.force_login(carol)
    for url in (reverse("teacher-grading") + f"?paper={paper.pk}", reverse("teacher-answer", args=[answer.pk])):
        html = client.get(url).content.decode()
        assert prompts.OVERALL_CRITERION_TEXT in html and '<td class="num">5</td>' in html, url


def test_a_grade_above_the_maximum_is_refused(client, carol, essay_paper, pending_essay):
    client.force_login(carol)
    response = client.post(reverse("teacher-answer-grade", args=[pending_essay.pk]), {"score": "6", "feedback": ""})
    assert response.status_code == 200 and response.context["form"].errors["score"]
    pending_essay.refresh_from_db()
    assert pending_essay.grade_status == GradeStatus.PENDING and pending_essay.score is None
    queue = client.get(reverse("teacher-grading")).content.decode()
    assert f'id="answer-{pending_essay.pk}"' in queue


def test_grading_updates_the_session_and_empties_the_queue(client, carol, essay_paper, pending_essay, demo_bank):
    client.force_login(carol)
    queue_url = reverse("teacher-grading") + f"?paper={essay_paper.pk}"
    response = client.post(
        reverse("teacher-answer-grade", args=[pending_essay.pk]),
        {"score": "4", "feedback": "论证可以更充分。", "next": queue_url},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == queue_url
    html = response.content.decode()
    assert f'id="answer-{pending_essay.pk}"' not in html and 'id="queue-empty"' in html
    assert "4.00 / 5.00" in html  # the confirmation names the new score
    pending_essay.refresh_from_db()
    assert pending_essay.score == Decimal("4.00") and pending_essay.grade_status == GradeStatus.TEACHER
    assert pending_essay.graded_by == carol and pending_essay.feedback == "论证可以更充分。"
    session = pending_essay.session
    session.refresh_from_db()
    assert session.score == demo_bank[0].score + 4 and session.pending_count == 0


def test_a_teacher_can_override_an_automatic_grade(client, carol, essay_paper, pending_essay, demo_bank):
    choice = Answer.objects.get(session=pending_essay.session, item__position=1)
    client.force_login(carol)
    page = client.get(reverse("teacher-answer", args=[choice.pk])).content.decode()
    assert "grade-form" in page
    response = client.post(reverse("teacher-answer-grade", args=[choice.pk]), {"score": "1", "feedback": "过程不全"})
    assert response.status_code == 302 and response["Location"] == reverse("teacher-answer", args=[choice.pk])
    choice.refresh_from_db()
    assert choice.score == Decimal("1.00") and choice.original_score == demo_bank[0].score
    assert choice.original_status == GradeStatus.AUTO
    page = client.get(reverse("teacher-answer", args=[choice.pk])).content.decode()
    assert re.search(r'id="original-score">\s*' + re.escape(str(demo_bank[0].score)), page)


def test_an_outside_next_address_is_ignored(client, carol, essay_paper, pending_essay):
    client.force_login(carol)
    response = client.post(
        reverse("teacher-answer-grade", args=[pending_essay.pk]),
        {"score": "3", "next": "https://example.invalid/phish"},
    )
    assert response.status_code == 302 and response["Location"] == reverse("teacher-answer", args=[pending_essay.pk])
