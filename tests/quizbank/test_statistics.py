"""Item statistics (facility, discrimination) against values worked out by hand and by the standard
library, over real finished attempts."""

from __future__ import annotations

import math
import statistics
from decimal import Decimal

import pytest

from quizbank.models import Answer, QuestionType
from quizbank.selectors.results import item_statistics
from quizbank.services import answer_grade, paper_create, question_create, session_answer_save, session_finish
from quizbank.services import session_start as start

pytestmark = pytest.mark.django_db

D = Decimal

# Marks per student: Q1 single (1), Q2 two blanks (2), Q3 single (1), Q4 true/false (1).
MARKS = [
    [1, 2, 0, 1],
    [1, 2, 1, 1],
    [1, 1, 0, 1],
    [0, 1, 1, 1],
    [0, 0, 1, 1],
    [1, 0, 0, 1],
]
RESPONSES = {  # the response that earns each mark
    0: {1: "B", 0: "A"},
    1: {2: ["甲", "乙"], 1: ["甲", "错"], 0: ["错", "错"]},
    2: {1: "C", 0: "D"},
    3: {1: "对"},
}


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _question(qtype, stem, **data):
    return question_create(data={"subject": "测试/统计", "qtype": qtype, "stem": stem, **data})


@pytest.fixture
def questions(db):
    abcd = [{"key": key, "text": f"选项{key}"} for key in "ABCD"]
    return [
        _question(QuestionType.SINGLE_CHOICE, "Q1", options=abcd, answer="B"),
        _question(
            QuestionType.FILL_BLANK,
            "Q2",
            answer="甲；乙",
            answer_data={"blanks": [{"answers": ["甲"]}, {"answers": ["乙"]}]},
            score=2,
        ),
        _question(QuestionType.SINGLE_CHOICE, "Q3", options=abcd, answer="C"),
        _question(QuestionType.TRUE_FALSE, "Q4", answer="true"),
        _question(QuestionType.ESSAY, "Q5", score=5),
        _question(QuestionType.DESCRIPTION, "Q6", score=0),
    ]


@pytest.fixture
def paper(questions, django_user_model, carol):
    """Six finished attempts with MARKS (each essay written, not graded yet), and one still open."""
    paper = paper_create(title="统计", questions=questions, created_by=carol)
    for number, marks in enumerate(MARKS, start=1):
        student = django_user_model.objects.create_user(f"student{number}")
        session = start(user=student, paper=paper)
        for position, mark in enumerate(marks, start=1):
            response = RESPONSES[position - 1][mark]
            session_answer_save(user=student, session_id=session.pk, position=position, response=response)
        session_answer_save(user=student, session_id=session.pk, position=5, response="我的论述")
        finished = session_finish(user=student, session_id=session.pk)
        assert finished.score == sum(marks)
    busy = django_user_model.objects.create_user("busy")
    open_session = start(user=busy, paper=paper)
    session_answer_save(user=busy, session_id=open_session.pk, position=3, response="D")
    return paper


def by_question(paper) -> dict[str, object]:
    return {row.stem: row for row in item_statistics(paper=paper)}


def expected(question: int) -> tuple[float, float | None]:
    """Facility and discrimination of one question of MARKS, by the standard library."""
    marks = [row[question] for row in MARKS]
    rest = [sum(row) - row[question] for row in MARKS]
    worth = max(RESPONSES[question])
    try:
        discrimination = statistics.correlation(marks, rest)
    except statistics.StatisticsError:  # a constant: no correlation
        discrimination = None
    return statistics.fmean(marks) / worth, discrimination


def test_facility_and_discrimination_match_hand_computed_values(paper):
    rows = by_question(paper)
    assert [row.stem for row in item_statistics(paper=paper)] == ["Q1", "Q2", "Q3", "Q4", "Q6"]

    # Q2 by hand: marks 2 2 1 1 0 0 (mean 1), rest 2 3 2 2 2 2 (mean 13/6):
    # Sxy = 1, Sxx = 4, Syy = 5/6, r = 1 / sqrt(4 · 5/6) = sqrt(0.3).
    q2 = rows["Q2"]
    assert (q2.attempts, q2.max_mark, q2.mean_mark, q2.facility) == (6, D("2.00"), 1.0, 0.5)
    assert q2.discrimination == pytest.approx(math.sqrt(0.3))
    assert q2.flagged is False

    for index, stem in enumerate(("Q1", "Q2", "Q3", "Q4")):
        facility, discrimination = expected(index)
        assert rows[stem].facility == pytest.approx(facility)
        if discrimination is None:
            assert rows[stem].discrimination is None
        else:
            assert rows[stem].discrimination == pytest.approx(discrimination)
        assert rows[stem].position == index + 1


def test_a_question_weaker_students_get_right_is_flagged(paper):
    q3 = by_question(paper)["Q3"]
    assert q3.discrimination == pytest.approx(expected(2)[1]) and q3.discrimination < 0
    assert q3.flagged is True
    assert by_question(paper)["Q1"].discrimination == pytest.approx(0.0) and not by_question(paper)["Q1"].flagged


def test_zero_variance_has_no_discrimination(paper):
    rows = by_question(paper)
    assert (rows["Q4"].facility, rows["Q4"].discrimination, rows["Q4"].flagged) == (1.0, None, False)
    # A description is worth nothing: no facility either.
    assert (rows["Q6"].max_mark, rows["Q6"].facility, rows["Q6"].discrimination) == (D("0.00"), None, None)


def test_answers_waiting_for_a_grade_count_once_graded(paper, carol):
    assert "Q5" not in by_question(paper)
    essays = Answer.objects.filter(question__stem="Q5", session__state="finished").order_by("id")
    answer_grade(answer_id=essays[0].pk, score=5, grader=carol)
    q5 = by_question(paper)["Q5"]
    assert (q5.attempts, q5.mean_mark, q5.facility, q5.discrimination) == (1, 5.0, 1.0, None)
    answer_grade(answer_id=essays[5].pk, score=1, grader=carol)
    q5 = by_question(paper)["Q5"]
    assert (q5.attempts, q5.mean_mark, q5.facility) == (2, 3.0, 0.6)
    # Student 1 (essay 5) did better on the rest (4) than student 6 (essay 1, rest 2): r = 1.
    assert q5.discrimination == pytest.approx(1.0)


def test_no_finished_attempts_no_rows(questions, alice):
    paper = paper_create(title="无人交卷", questions=questions[:2])
    start(user=alice, paper=paper)
    assert item_statistics(paper=paper) == []
