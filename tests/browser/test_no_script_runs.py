"""Markup in a question or an answer never runs: an imported HTML stem is sanitised, a plain-text stem
and a student's answer are escaped, on the exam, practice, review and teacher's grading pages."""

from decimal import Decimal

import pytest
from django.urls import reverse

from quizbank.models import Answer, Question, QuestionType, QuizSession, SessionState
from quizbank.services import bank_import_file, paper_create, subject_get_or_create

pytestmark = pytest.mark.browser

XSS = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=1</script>'
REVIEW_NOW = {
    "review_score": "immediately",
    "review_correctness": "immediately",
    "review_answer": "immediately",
    "review_explanation": "immediately",
}
MOODLE = f"""<?xml version="1.0" encoding="UTF-8"?>
<quiz><question type="essay">
  <name><text>x</text></name>
  <questiontext format="html"><text><![CDATA[<p>导入的题干</p>{XSS}]]></text></questiontext>
  <generalfeedback format="html"><text><![CDATA[解析{XSS}]]></text></generalfeedback>
  <defaultgrade>5</defaultgrade>
</question></quiz>"""


def not_pwned(page) -> None:
    page.wait_for_load_state("networkidle")
    assert page.evaluate("typeof window.__pwned") == "undefined", page.url


@pytest.fixture
def hostile_questions(transactional_db, tmp_path):
    path = tmp_path / "xss.xml"
    path.write_text(MOODLE, encoding="utf-8")
    bank_import_file(path=path, subject="安全")
    imported = Question.objects.get(stem__contains="导入的题干")
    plain = Question.objects.create(
        subject=subject_get_or_create(path="安全"),
        qtype=QuestionType.SHORT_ANSWER,
        stem=f"纯文本题干 {XSS}",
        answer="答",
        answer_data={"answers": [{"text": "答", "fraction": 1.0}]},
        explanation=f"解析 {XSS}",
        content_hash="plain-xss",
        score=Decimal(2),
    )
    return imported, plain


def test_no_script_in_a_stem_or_an_answer_runs(page, live_server, login, alice, carol, hostile_questions):
    imported, plain = hostile_questions
    assert "<script" not in imported.stem and "onerror" not in imported.stem
    login(page, "alice", "alice-pass-123")

    # an exam: the page with both stems, the answers typed in, then the review
    exam = paper_create(title="安全测验", questions=[imported, plain], **REVIEW_NOW)
    page.goto(live_server.url + reverse("exam-paper", args=[exam.pk]))
    page.click("#start-button")
    page.wait_for_url("**/sessions/*/")
    not_pwned(page)
    assert "纯文本题干 <img src=x" in page.locator("main").inner_text()  # shown as text
    for section in page.locator("section.question").all():
        section.locator("textarea, input[type=text]").first.fill(f"学生答案 {XSS}")
    page.wait_for_function(
        """() => Array.from(document.querySelectorAll("section.question [data-status]"))
              .every((status) => status.classList.contains("saved"))""",
        timeout=10_000,
    )
    session = QuizSession.objects.get(paper=exam, user=alice)
    assert Answer.objects.filter(session=session, response__contains="<script>").count() == 2
    page.reload()
    not_pwned(page)
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#finish-button")
    page.wait_for_url("**/review/")
    not_pwned(page)
    assert "学生答案 <img" in page.locator("main").inner_text()

    # practice: checking an answer shows the key and the explanation
    practice = paper_create(title="安全练习", questions=[plain], mode="practice", **REVIEW_NOW)
    page.goto(live_server.url + reverse("exam-paper", args=[practice.pk]))
    page.click("#start-button")
    page.wait_for_url("**/sessions/*/")
    block = page.locator("section.question").first
    block.locator("textarea, input[type=text]").first.fill(f"练习答案 {XSS}")
    block.locator("[data-check]").click()
    block.locator("[data-result]").wait_for()
    not_pwned(page)
    page.reload()
    not_pwned(page)

    # the teacher grading the essay sees the answer as text
    session.refresh_from_db()
    assert session.state == SessionState.FINISHED
    essay = Answer.objects.get(session=session, question=imported)
    page.context.clear_cookies()
    login(page, "carol", "carol-pass-123")
    page.goto(live_server.url + reverse("teacher-answer", args=[essay.pk]))
    not_pwned(page)
    assert "学生答案 <img" in page.locator("main").inner_text()

    # the probe itself works: the same markup, live, does set the flag (on a blank page: the site's
    # Content-Security-Policy would refuse the inline script and the handler too)
    page.goto("about:blank")
    page.set_content(f"<main>{XSS}</main>")
    page.wait_for_function("window.__pwned === 1", timeout=5_000)
