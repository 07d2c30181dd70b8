"""A teacher follows a paper in the browser: results, item statistics, grading an essay from the queue."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from quizbank.models import Answer
from quizbank.services import paper_create, question_create, session_answer_save, session_finish, session_start

pytestmark = pytest.mark.browser


def _choice(stem: str, right: str) -> dict:
    options = [{"key": "A", "text": "1"}, {"key": "B", "text": "2"}, {"key": "C", "text": "3"}]
    return {"subject": "数学/四则运算", "qtype": "single_choice", "stem": stem, "options": options, "answer": right}


def _take(user, paper, responses: list[str]):
    session = session_start(user=user, paper=paper)
    for position, response in enumerate(responses, start=1):
        session_answer_save(user=user, session_id=session.pk, position=position, response=response)
    return session_finish(user=user, session_id=session.pk)


@pytest.fixture
def marked_paper(carol, alice, bob):
    """Two choice questions (2 points each) and an essay (5 points); alice and bob have submitted."""
    first = question_create(data={**_choice("1 + 1 = ?", "B"), "score": 2})
    second = question_create(data={**_choice("1 + 2 = ?", "C"), "score": 2})
    essay = question_create(
        data={
            "subject": "语文/写作",
            "qtype": "essay",
            "stem": "谈谈你对诚信的理解。",
            "answer": "诚信是立身之本。",
            "score": 5,
            "answer_data": {"rubric": [{"id": "r1", "criterion": "观点明确", "points": 5}]},
        }
    )
    paper = paper_create(title="期中测验", questions=[first, second, essay], created_by=carol)
    alice_session = _take(alice, paper, ["B", "C", "诚信就是说到做到。"])  # 4 points, the essay pending
    bob_session = _take(bob, paper, ["B", "A", "诚信很重要。"])  # 2 points, the essay pending
    return paper, alice_session, bob_session


def test_a_teacher_reads_results_and_statistics_and_grades_an_essay(page, live_server, login, marked_paper):
    paper, alice_session, bob_session = marked_paper
    login(page, "carol", "carol-pass-123")

    page.goto(f"{live_server.url}/teach/papers/")
    page.click(f'#papers a[href="/teach/papers/{paper.pk}/"] >> nth=0')
    expect(page.locator(f'#sessions tr[data-session="{alice_session.pk}"] .score')).to_have_text("4.00 / 9.00")
    expect(page.locator(f'#sessions tr[data-session="{bob_session.pk}"] .score')).to_have_text("2.00 / 9.00")
    expect(page.locator(f'#sessions tr[data-session="{alice_session.pk}"] .pending')).to_have_text("1")

    page.click(f'a[href="/teach/papers/{paper.pk}/statistics/"]')
    # The essays wait for a grade, so only the two choice questions have statistics yet.
    expect(page.locator("#item-statistics tbody .facility")).to_have_text(["100.0%", "50.0%"])

    page.goto(f"{live_server.url}/teach/papers/{paper.pk}/")
    page.click(f'a[href="/teach/grading/?paper={paper.pk}"] >> nth=0')
    essay = Answer.objects.get(session=alice_session, item__position=3)
    article = page.locator(f"#answer-{essay.pk}")
    expect(article).to_contain_text("诚信就是说到做到。")
    expect(article).to_contain_text("观点明确")
    article.locator("input[name=score]").fill("4.5")
    article.locator("textarea[name=feedback]").fill("观点明确，论证稍弱。")
    article.locator("button[type=submit]").click()
    page.wait_for_load_state()
    expect(page.locator(".messages")).to_contain_text("4.50 / 5.00")
    expect(page.locator(f"#answer-{essay.pk}")).to_have_count(0)
    expect(page.locator("article.grading")).to_have_count(1)  # bob's essay still waits

    page.goto(f"{live_server.url}/teach/papers/{paper.pk}/")
    expect(page.locator(f'#sessions tr[data-session="{alice_session.pk}"] .score')).to_have_text("8.50 / 9.00")
    expect(page.locator(f'#sessions tr[data-session="{alice_session.pk}"] .pending')).to_have_text("0")

    page.goto(f"{live_server.url}/teach/papers/{paper.pk}/statistics/")
    expect(page.locator("#item-statistics tbody .facility")).to_have_text(["100.0%", "50.0%", "90.0%"])
