"""A student takes timed exams in a real browser: every question type, autosave across a reload,
submitting, the review, a timer that runs out with and without the page open, and saves sent together."""

import json
import time
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from quizbank.demo import DEMO_EXAM_QUESTIONS, demo_question
from quizbank.models import Answer, QuestionType, QuizSession, SessionState
from quizbank.services import paper_create, paper_update

pytestmark = pytest.mark.browser

REVIEW_NOW = {
    "review_score": "immediately",
    "review_correctness": "immediately",
    "review_answer": "immediately",
    "review_explanation": "immediately",
}
# What the student enters, by type, and what the server must have stored for it.
ANSWERS = {
    QuestionType.SINGLE_CHOICE: "C",
    QuestionType.MULTIPLE_CHOICE: ["A", "C"],
    QuestionType.TRUE_FALSE: "true",
    QuestionType.FILL_BLANK: ["北京市", "太原"],
    QuestionType.NUMERICAL: "1.41",
    QuestionType.MATCHING: {"法国": "巴黎", "日本": "东京", "埃及": "开罗"},
    QuestionType.SHORT_ANSWER: "H2O",
    QuestionType.CLOZE: ["12", "二月"],
    QuestionType.ESSAY: "淡水有限，节约用水保护环境。",
}


@pytest.fixture
def browser_context_args(browser_context_args):
    return {**browser_context_args, "locale": "zh-CN", "timezone_id": "Asia/Shanghai"}


@pytest.fixture
def every_type(transactional_db):
    return {question.qtype: question for question in (demo_question(data) for data in DEMO_EXAM_QUESTIONS)}


@pytest.fixture
def student(transactional_db, alice, page, login):
    login(page, "alice", "alice-pass-123")
    return alice


def section(page, qtype):
    return page.locator(f"section[data-qtype={qtype}]")


def answer(page, qtype, value):
    block = section(page, qtype)
    if qtype in (QuestionType.SINGLE_CHOICE, QuestionType.TRUE_FALSE):
        block.locator(f"input[value='{value}']").check()
    elif qtype == QuestionType.MULTIPLE_CHOICE:
        for key in value:
            block.locator(f"input[value='{key}']").check()
    elif qtype == QuestionType.FILL_BLANK:
        for index, text in enumerate(value):
            block.locator(f"[data-part='{index}']").fill(text)
    elif qtype == QuestionType.NUMERICAL:
        block.locator("[data-part='0']").fill(value)
    elif qtype == QuestionType.MATCHING:
        for left, right in value.items():
            block.locator(f"select[data-left='{left}']").select_option(right)
    elif qtype == QuestionType.CLOZE:
        block.locator("[data-part='0']").fill(value[0])
        block.locator("[data-part='1']").select_option(value[1])
    else:
        block.locator("textarea").fill(value)


def shown(page, qtype):
    """What the inputs of one question show now, in the shape of ANSWERS."""
    block = section(page, qtype)
    if qtype in (QuestionType.SINGLE_CHOICE, QuestionType.TRUE_FALSE):
        return block.locator("input:checked").get_attribute("value")
    if qtype == QuestionType.MULTIPLE_CHOICE:
        return [box.get_attribute("value") for box in block.locator("input:checked").all()]
    if qtype in (QuestionType.FILL_BLANK, QuestionType.CLOZE):
        return [part.input_value() for part in block.locator("[data-part]").all()]
    if qtype == QuestionType.NUMERICAL:
        return block.locator("[data-part]").input_value()
    if qtype == QuestionType.MATCHING:
        return {select.get_attribute("data-left"): select.input_value() for select in block.locator("select").all()}
    return block.locator("textarea").input_value()


def wait_all_saved(page):
    """Every question answered on the page reports "saved" (the untouched ones report nothing)."""
    page.wait_for_function(
        """() => Array.from(document.querySelectorAll("section.question [data-status]"))
              .every((status) => status.classList.contains("saved") || !status.textContent)""",
        timeout=10_000,
    )


def position_of(session, qtype) -> int:
    return session.items.get(question__qtype=qtype).position


def start(page, live_server, paper) -> QuizSession:
    page.goto(live_server.url + reverse("exam-paper", args=[paper.pk]))
    page.click("#start-button")
    page.wait_for_url("**/sessions/*/")
    return QuizSession.objects.get(paper=paper, state=SessionState.IN_PROGRESS)


def test_a_student_answers_every_type_reloads_keeps_everything_and_submits(page, live_server, student, every_type):
    paper = paper_create(
        title="期中测验", questions=list(every_type.values()), time_limit_seconds=600, attempts_allowed=1, **REVIEW_NOW
    )
    session = start(page, live_server, paper)
    # the LaTeX of the single-choice stem ($f(x)=x^2+1$) is typeset by KaTeX
    page.wait_for_selector("section[data-qtype=single_choice] .stem .katex")
    assert page.locator("#countdown-value").inner_text().startswith(("10:00", "9:5"))

    for qtype, value in ANSWERS.items():
        if qtype not in (QuestionType.SHORT_ANSWER, QuestionType.ESSAY):
            answer(page, qtype, value)
    wait_all_saved(page)
    assert "已保存" in section(page, QuestionType.NUMERICAL).locator("[data-status]").inner_text()
    # offline, an answer waits on this device and is retried; back online, it is sent
    page.context.set_offline(True)
    answer(page, QuestionType.SHORT_ANSWER, ANSWERS[QuestionType.SHORT_ANSWER])
    status = section(page, QuestionType.SHORT_ANSWER).locator("[data-status]")
    status.filter(has_text="保存失败，正在重试").wait_for()
    draft = page.evaluate(
        f"localStorage.getItem('quizsite:session:{session.pk}:' + {position_of(session, 'short_answer')})"
    )
    assert "H2O" in draft
    page.context.set_offline(False)
    wait_all_saved(page)
    # the last answer is typed and the page reloaded at once, before its autosave is due
    answer(page, QuestionType.ESSAY, ANSWERS[QuestionType.ESSAY])
    page.reload()
    for qtype, value in ANSWERS.items():
        assert shown(page, qtype) == value, qtype
    wait_all_saved(page)
    stored = {a.item.question.qtype: a.response_data for a in Answer.objects.filter(session=session)}
    assert stored == ANSWERS

    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#finish-button")
    page.wait_for_url("**/review/")
    session.refresh_from_db()
    assert session.state == SessionState.FINISHED and session.finished_by == "student"
    assert session.pending_count == 1  # the essay waits for a grade; everything else was right
    assert session.score == session.max_score - every_type[QuestionType.ESSAY].score
    score = page.locator("#score").inner_text()
    assert f"{session.score.normalize():f}" in score and f"{session.max_score.normalize():f}" in score
    essay = page.locator(f"#q-{position_of(session, QuestionType.ESSAY)}")
    assert "待评分" in essay.inner_text()
    review = page.locator("main").inner_text()
    assert review.count("✓ 正确") == 8 and "正确答案" in review and "题库解析" in review
    assert every_type[QuestionType.FILL_BLANK].explanation in review
    page.wait_for_selector("#q-2 .explanation .katex")  # the explanation's LaTeX too


def test_a_timer_that_runs_out_finishes_the_session_without_the_student(page, live_server, student, every_type):
    from quizbank.tasks import sweep_sessions

    questions = [every_type[QuestionType.TRUE_FALSE], every_type[QuestionType.NUMERICAL]]
    # 1. The student answers and closes the page; the deadline passes; the sweeper submits.
    closed = paper_create(title="限时测验", questions=questions, time_limit_seconds=600, **REVIEW_NOW)
    session = start(page, live_server, closed)
    answer(page, QuestionType.TRUE_FALSE, "true")
    answer(page, QuestionType.NUMERICAL, "1.3")
    wait_all_saved(page)
    context = page.context
    page.close()
    QuizSession.objects.filter(pk=session.pk).update(deadline=timezone.now() - timedelta(seconds=1))
    assert sweep_sessions() == 1
    session.refresh_from_db()
    assert session.state == SessionState.FINISHED and session.finished_by == "timer"
    graded = {a.item.question.qtype: a for a in Answer.objects.filter(session=session)}
    assert graded[QuestionType.TRUE_FALSE].is_correct is True and graded[QuestionType.TRUE_FALSE].score == 1
    assert graded[QuestionType.NUMERICAL].is_correct is False and graded[QuestionType.NUMERICAL].score == 0
    assert session.score == 1

    # 2. With the page open, the countdown submits by itself when the time runs out.
    page = context.new_page()
    quick = paper_create(title="五秒测验", questions=questions, time_limit_seconds=5, **REVIEW_NOW)
    session = start(page, live_server, quick)
    answer(page, QuestionType.TRUE_FALSE, "true")
    wait_all_saved(page)
    page.wait_for_url("**/review/", timeout=15_000)
    session.refresh_from_db()
    assert session.state == SessionState.FINISHED and session.score == 1
    assert "1" in page.locator("#score").inner_text()


def test_sequential_navigation_and_practice_checks(page, live_server, student, every_type):
    true_false, numerical = every_type[QuestionType.TRUE_FALSE], every_type[QuestionType.NUMERICAL]
    # One question at a time: "next" saves the answer and moves on for good.
    ordered = paper_create(title="顺序测验", questions=[true_false, numerical], navigation="sequential")
    session = start(page, live_server, ordered)
    assert page.locator("section.question").count() == 1
    answer(page, QuestionType.TRUE_FALSE, "true")
    page.click("#next-question")
    page.wait_for_selector("#q-2")
    assert page.locator("#q-1").count() == 0 and page.locator("#next-question").count() == 0
    session.refresh_from_db()
    assert session.current_position == 2
    assert Answer.objects.get(session=session, item__position=1).response_data == "true"

    # Practice: "check" shows right or wrong, the key and the explanation, and locks the answer. Not
    # while the exam holding the same questions is open: it closes first.
    paper_update(paper=ordered, close_at=timezone.now() - timedelta(seconds=1))
    practice = paper_create(title="练一练", questions=[true_false, numerical], mode="practice", **REVIEW_NOW)
    start(page, live_server, practice)
    answer(page, QuestionType.TRUE_FALSE, "false")
    block = section(page, QuestionType.TRUE_FALSE)
    block.locator("[data-check]").click()
    block.locator(".verdict").wait_for()
    result = " ".join(block.locator("[data-result]").inner_text().split())
    assert "✗ 错误" in result and "正确答案： 对" in result and true_false.explanation in result
    assert block.locator("input[value=true]").is_disabled()
    assert numerical.explanation not in page.locator("main").inner_text()
    page.reload()
    assert true_false.explanation in section(page, QuestionType.TRUE_FALSE).inner_text()


# --- coalesced saves: every answer changed in the last moment goes in one request -----------------------

QUICK = (QuestionType.SINGLE_CHOICE, QuestionType.MULTIPLE_CHOICE, QuestionType.TRUE_FALSE, QuestionType.NUMERICAL)


def saves(page) -> list[dict]:
    """Every save request the page sends, as sent."""
    sent: list[dict] = []

    def seen(request):
        if request.method == "PUT" and "/answers" in request.url:
            sent.append({"url": request.url, "body": json.loads(request.post_data or "{}")})

    page.on("request", seen)
    return sent


def test_answers_changed_together_go_in_one_request_and_each_is_stored(page, live_server, student, every_type):
    paper = paper_create(title="合并保存", questions=[every_type[qtype] for qtype in (*QUICK, QuestionType.ESSAY)])
    sent = saves(page)
    session = start(page, live_server, paper)
    for qtype in QUICK:  # well within the pause that triggers a save
        answer(page, qtype, ANSWERS[qtype])
    wait_all_saved(page)
    assert len(sent) == 1, sent
    assert sent[0]["url"].endswith(f"/api/v1/sessions/{session.pk}/answers")
    assert len(sent[0]["body"]["answers"]) == len(QUICK)
    stored = {row.question.qtype: row.response_data for row in Answer.objects.filter(session=session)}
    assert stored == {qtype: ANSWERS[qtype] for qtype in QUICK}


def test_typing_without_a_pause_is_still_saved_every_few_seconds(page, live_server, student, every_type):
    paper = paper_create(title="长文", questions=[every_type[QuestionType.ESSAY]])
    sent = saves(page)
    session = start(page, live_server, paper)
    box = page.locator("section[data-qtype=essay] textarea")
    box.click()
    began = time.monotonic()
    while time.monotonic() - began < 8:  # a key every 200 ms: never the pause that triggers a save
        box.press_sequentially("水", delay=0)
        page.wait_for_timeout(200)
    assert 1 <= len(sent) <= 3, [entry["body"] for entry in sent]  # saved while typing, not once a key
    wait_all_saved(page)
    typed = box.input_value()
    stored = Answer.objects.get(session=session).response_data
    assert stored == typed and len(typed) >= 30
