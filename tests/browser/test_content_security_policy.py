"""In a real browser, under the site's Content-Security-Policy: the page scripts and KaTeX still run
with nothing refused, and a long student answer on the teacher's grading page is shown as text
instead of being typeset."""

from __future__ import annotations

import pytest

from quizbank.models import Answer
from quizbank.services import paper_create, question_create, session_answer_save, session_finish, session_start

pytestmark = pytest.mark.browser

SHORT = "面积是 $\\frac{1}{2}ab$。"
LONG = "$x^2$ " * 3000  # 18,000 characters, 3,000 formulas


def test_katex_runs_under_the_policy_and_skips_a_very_long_answer(page, live_server, login, carol, alice, bob):
    essay = question_create(
        data={
            "subject": "数学",
            "qtype": "essay",
            "stem": "三角形的面积 $S$ 怎么求？",
            "answer": "$S=\\frac{1}{2}ah$",
            "score": 5,
        }
    )
    paper = paper_create(title="面积", questions=[essay], created_by=carol)
    answers = {}
    for user, response in ((alice, SHORT), (bob, LONG)):
        session = session_start(user=user, paper=paper)
        session_answer_save(user=user, session_id=session.pk, position=1, response=response)
        session_finish(user=user, session_id=session.pk)
        answers[user.username] = Answer.objects.get(session=session)

    refused: list[str] = []
    page.on(
        "console", lambda message: refused.append(message.text) if "Content Security Policy" in message.text else None
    )
    login(page, "carol", "carol-pass-123")

    page.goto(f"{live_server.url}/teach/answers/{answers['alice'].pk}/")
    page.wait_for_selector(".response .katex")  # the short answer is typeset
    assert page.locator(".stem .katex").count() == 1

    page.goto(f"{live_server.url}/teach/answers/{answers['bob'].pk}/")
    page.wait_for_selector(".stem .katex")  # the page's math ran...
    response = page.locator(".response")
    assert response.get_attribute("data-math-skipped") == "too long"  # ...but not over the long answer
    assert response.locator(".katex").count() == 0 and "$x^2$" in response.inner_text()
    assert refused == []
