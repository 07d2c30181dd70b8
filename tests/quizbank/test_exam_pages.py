"""The student's exam, practice and wrong-answer book pages, through the Django test client."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from quizbank.demo import DEMO_EXAM_QUESTIONS, demo_question
from quizbank.models import Answer, QuestionType, QuizSession, SessionState
from quizbank.services import paper_create, session_answer_save, session_finish, session_start

pytestmark = pytest.mark.django_db

REVIEW_NOW = {
    "review_score": "immediately",
    "review_correctness": "immediately",
    "review_answer": "immediately",
    "review_explanation": "immediately",
}
REVIEW_NEVER = {name: "never" for name in REVIEW_NOW}


@pytest.fixture
def every_type():
    """One question of every type (the demo exam's), by type."""
    return {question.qtype: question for question in (demo_question(data) for data in DEMO_EXAM_QUESTIONS)}


def exam(every_type, **settings):
    return paper_create(title="期中测验", questions=list(every_type.values()), time_limit_seconds=600, **settings)


def position_of(session, qtype):
    return session.items.get(question__qtype=qtype).position


def test_anonymous_visitors_are_sent_to_log_in(client):
    for name in ("exam-index", "wrong-book"):
        response = client.get(reverse(name))
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_a_student_sees_the_exam_starts_it_and_gets_every_question(client, alice, every_type):
    paper = exam(every_type, attempts_allowed=2)
    client.force_login(alice)
    index = client.get(reverse("exam-index")).content.decode()
    assert paper.title in index and "10 分钟" in index and "0 / 2" in index and reverse("wrong-book") in index
    detail = client.get(reverse("exam-paper", args=[paper.pk])).content.decode()
    assert 'id="start-button"' in detail and "开始" in detail
    started = client.post(reverse("exam-start", args=[paper.pk]))
    session = QuizSession.objects.get(user=alice, paper=paper)
    assert started.status_code == 302 and started["Location"] == reverse("session-take", args=[session.pk])
    page = client.get(started["Location"]).content.decode()
    for question in every_type.values():
        assert question.stem in page
    assert page.count('type="radio"') == 4 + 2  # single choice, true/false
    assert page.count('type="checkbox"') == 4
    assert page.count("data-left=") == 3 and page.count("<textarea") == 2
    assert 'type="number"' in page and 'id="countdown"' in page and "exam.js" in page
    # starting again resumes the same attempt
    assert client.post(reverse("exam-start", args=[paper.pk]))["Location"] == started["Location"]
    assert "继续" in client.get(reverse("exam-index")).content.decode()


def test_the_take_page_carries_no_key_explanation_or_fraction(client, alice, every_type):
    paper = exam(every_type)
    session = session_start(user=alice, paper=paper)
    session_answer_save(
        user=alice, session_id=session.pk, position=position_of(session, QuestionType.SINGLE_CHOICE), response="B"
    )
    client.force_login(alice)
    page = client.get(reverse("session-take", args=[session.pk])).content.decode()
    for question in every_type.values():
        if question.explanation:
            assert question.explanation not in page
    for secret in ("fraction", "correct_options", "answer_data", "rubric", "H2O", "1.414", "北京市", "Beijing"):
        assert secret not in page, secret
    assert "说出至少一个理由" not in page and "淡水资源有限" not in page  # essay rubric and reference answer
    assert '"key"' not in page and "data-answer" not in page and "data-correct" not in page
    assert 'value="B" checked' in page  # the saved answer comes back


def test_another_students_session_does_not_exist_for_them(client, alice, bob, every_type):
    session = session_start(user=alice, paper=exam(every_type))
    client.force_login(bob)
    assert client.get(reverse("session-take", args=[session.pk])).status_code == 404
    assert client.get(reverse("session-review", args=[session.pk])).status_code == 404
    assert client.post(reverse("session-finish", args=[session.pk])).status_code == 404
    assert QuizSession.objects.get(pk=session.pk).state == SessionState.IN_PROGRESS


def answer_everything(alice, session, every_type):
    answers = {
        QuestionType.SINGLE_CHOICE: "C",
        QuestionType.MULTIPLE_CHOICE: ["A"],  # 漏选: half marks
        QuestionType.TRUE_FALSE: "false",  # wrong
        QuestionType.FILL_BLANK: ["北京市", "太原"],
        QuestionType.NUMERICAL: "1.41",
        QuestionType.MATCHING: {"法国": "巴黎", "日本": "东京", "埃及": "开罗"},
        QuestionType.SHORT_ANSWER: "H₂O",
        QuestionType.CLOZE: ["12", "二月"],
        QuestionType.ESSAY: "水资源有限。",
    }
    for qtype, response in answers.items():
        session_answer_save(user=alice, session_id=session.pk, position=position_of(session, qtype), response=response)


def test_finishing_leads_to_a_review_with_what_the_policy_allows(client, alice, every_type):
    session = session_start(user=alice, paper=exam(every_type, **REVIEW_NOW))
    answer_everything(alice, session, every_type)
    client.force_login(alice)
    finished = client.post(reverse("session-finish", args=[session.pk]))
    assert finished["Location"] == reverse("session-review", args=[session.pk])
    session.refresh_from_db()
    assert session.state == SessionState.FINISHED
    # a model explanation is labelled with its version
    essay = Answer.objects.get(session=session, question=every_type[QuestionType.ESSAY])
    essay.explanation, essay.explanation_source, essay.model_version = "模型写的解析。", "model", "ft-7"
    essay.save()
    page = client.get(finished["Location"]).content.decode()
    assert 'id="score"' in page and f"{session.score.normalize():f}" in page
    assert "待评分" in page  # the essay
    assert "✓ 正确" in page and "✗ 错误" in page
    assert "正确答案" in page and "北京 / 北京市 / Beijing" in page and "法国 → 巴黎" in page
    assert every_type[QuestionType.SINGLE_CHOICE].explanation in page and "题库解析" in page
    assert "AI 生成 · ft-7" in page and "模型写的解析。" in page
    # the take page of a finished session is its review
    assert client.get(reverse("session-take", args=[session.pk]))["Location"] == finished["Location"]


def test_a_review_hides_what_the_policy_keeps_back(client, alice, every_type):
    session = session_start(user=alice, paper=exam(every_type, **REVIEW_NEVER))
    answer_everything(alice, session, every_type)
    session_finish(user=alice, session_id=session.pk)
    client.force_login(alice)
    page = client.get(reverse("session-review", args=[session.pk])).content.decode()
    assert 'id="score-hidden"' in page and 'id="score"' not in page
    assert "正确答案" not in page and "✓" not in page and "✗" not in page
    for question in every_type.values():
        if question.explanation:
            assert question.explanation not in page
    assert "北京市" in page  # the student's own answer stays visible
    assert "1.414" not in page


def test_an_open_session_has_no_review_yet(client, alice, every_type):
    session = session_start(user=alice, paper=exam(every_type))
    client.force_login(alice)
    assert client.get(reverse("session-review", args=[session.pk]))["Location"] == reverse(
        "session-take", args=[session.pk]
    )


def test_refusals_to_start_are_shown_as_messages(client, alice, every_type):
    later = exam(every_type, open_at=timezone.now() + timedelta(days=1))
    once = paper_create(title="只能做一次", questions=[every_type[QuestionType.TRUE_FALSE]], attempts_allowed=1)
    session_finish(user=alice, session_id=session_start(user=alice, paper=once).pk)
    client.force_login(alice)
    page = client.post(reverse("exam-start", args=[later.pk]), follow=True).content.decode()
    assert "这份试卷还没有开放" in page and "未开放" in page
    page = client.post(reverse("exam-start", args=[once.pk]), follow=True).content.decode()
    assert "作答次数已用完" in page
    assert QuizSession.objects.filter(user=alice).count() == 1


def test_sequential_navigation_shows_only_the_current_question(client, alice, every_type):
    paper = exam(every_type, navigation="sequential")
    session = session_start(user=alice, paper=paper)
    client.force_login(alice)
    page = client.get(reverse("session-take", args=[session.pk])).content.decode()
    first, second = session.items.order_by("position")[:2]
    assert first.question.stem in page and second.question.stem not in page
    assert 'id="next-question"' in page


def test_practice_shows_a_checked_answer_with_its_key(client, alice, every_type):
    paper = paper_create(
        title="练一练",
        questions=[every_type[QuestionType.TRUE_FALSE], every_type[QuestionType.NUMERICAL]],
        mode="practice",
    )
    session = session_start(user=alice, paper=paper)
    session_answer_save(user=alice, session_id=session.pk, position=1, response="true")
    client.force_login(alice)
    page = client.get(reverse("session-take", args=[session.pk])).content.decode()
    assert "✓ 正确" in page and every_type[QuestionType.TRUE_FALSE].explanation in page
    assert every_type[QuestionType.NUMERICAL].explanation not in page  # not checked yet
    assert page.count("data-check>") == 1 and "检查" in page and "data-checked" in page


def test_the_pages_switch_to_english(client, alice, every_type):
    paper = exam(every_type)
    client.force_login(alice)
    # An English-speaking browser still gets the school's language until the user switches.
    chinese = client.get(reverse("exam-index"), HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9").content.decode()
    assert '<html lang="zh-hans">' in chinese and "我的作答记录" in chinese
    switched = client.post(reverse("set_language"), {"language": "en", "next": reverse("exam-index")})
    assert switched.status_code == 302
    english = client.get(reverse("exam-index")).content.decode()
    assert '<html lang="en">' in english and "My attempts" in english and "Wrong-answer book" in english
    assert "我的作答记录" not in english
    page = client.get(reverse("exam-paper", args=[paper.pk])).content.decode()
    assert "Start" in page and "10 min" in page


def test_the_wrong_book_lists_mistakes_and_starts_practising_them(client, alice, every_type):
    session = session_start(user=alice, paper=exam(every_type, **REVIEW_NOW))
    session_answer_save(
        user=alice, session_id=session.pk, position=position_of(session, QuestionType.TRUE_FALSE), response="false"
    )
    session_finish(user=alice, session_id=session.pk)
    client.force_login(alice)
    page = client.get(reverse("wrong-book")).content.decode()
    assert every_type[QuestionType.TRUE_FALSE].stem in page and 'id="practise-wrong"' in page
    started = client.post(reverse("wrong-book-practice"))
    practice = QuizSession.objects.filter(user=alice).exclude(pk=session.pk).get()
    assert started["Location"] == reverse("session-take", args=[practice.pk])
    assert practice.paper.owner == alice and practice.paper.mode == "practice"
    take = client.get(started["Location"]).content.decode()
    assert every_type[QuestionType.TRUE_FALSE].stem in take and "data-check" in take


def test_mistakes_on_an_open_exam_wait_until_it_closes(client, alice, every_type):
    session = session_start(user=alice, paper=exam(every_type))  # the key stays hidden until it closes
    session_answer_save(
        user=alice, session_id=session.pk, position=position_of(session, QuestionType.TRUE_FALSE), response="false"
    )
    session_finish(user=alice, session_id=session.pk)
    client.force_login(alice)
    page = client.post(reverse("wrong-book-practice"), follow=True).content.decode()
    assert "考试结束后再练习" in page
    assert QuizSession.objects.filter(user=alice).count() == 1


def test_an_empty_wrong_book_says_so(client, alice):
    client.force_login(alice)
    assert 'id="practise-wrong"' not in client.get(reverse("wrong-book")).content.decode()
    page = client.post(reverse("wrong-book-practice"), follow=True).content.decode()
    assert "你的错题本是空的" in page


def test_the_nav_shows_teacher_pages_to_teachers_only(client, alice, carol):
    client.force_login(alice)
    assert "/teach/grading/" not in client.get(reverse("exam-index")).content.decode()
    client.force_login(carol)
    page = client.get(reverse("exam-index")).content.decode()
    assert page.count('href="/teach/grading/"') == 1 and 'href="/bank/"' in page


def wrong_choice_review(alice, every_type):
    """alice's finished attempt, everything shown at once, the single-choice question answered wrongly."""
    session = session_start(user=alice, paper=exam(every_type, **REVIEW_NOW))
    single = every_type[QuestionType.SINGLE_CHOICE]
    wrong = next(key for key in single.option_keys if key not in single.answer)
    session_answer_save(
        user=alice, session_id=session.pk, position=position_of(session, QuestionType.SINGLE_CHOICE), response=wrong
    )
    session_finish(user=alice, session_id=session.pk)
    session.refresh_from_db()
    return session, single


def test_a_review_shows_the_precomputed_model_explanation_without_a_model_call(
    client, alice, every_type, no_model_server
):
    from quizbank.models import QuestionExplanation

    session, single = wrong_choice_review(alice, every_type)
    QuestionExplanation.objects.create(question=single, model_version="ft-1", text="旧版本的解析。")
    QuestionExplanation.objects.create(question=single, model_version="ft-2", text="新版本的解析。")
    client.force_login(alice)
    page = client.get(reverse("session-review", args=[session.pk])).content.decode()
    assert "AI 生成 · ft-2" in page and "新版本的解析。" in page and "旧版本的解析。" not in page
    assert single.explanation not in page
    # the other questions keep the bank's explanation, labelled as such
    assert every_type[QuestionType.TRUE_FALSE].explanation in page and "题库解析" in page
    # the wrong answer can ask the model why; an unanswered question cannot
    answer = Answer.objects.get(session=session, item__question=single)
    assert page.count("data-explain-stream=") == 1
    assert reverse("api-v1-answer-explain-stream", args=[answer.pk]) in page and "exam.js" in page


def test_the_answers_own_model_explanation_comes_before_the_precomputed_one(client, alice, every_type):
    from quizbank.models import QuestionExplanation
    from quizbank.selectors.exams import session_view

    session, single = wrong_choice_review(alice, every_type)
    QuestionExplanation.objects.create(question=single, model_version="ft-2", text="题目的模型解析。")
    Answer.objects.filter(session=session, item__question=single).update(
        explanation="你的答案错在这里。", explanation_source="model", model_version="ft-3"
    )
    item = next(i for i in session_view(session)["items"] if i["qtype"] == QuestionType.SINGLE_CHOICE)
    assert (item["explanation"], item["explanation_source"], item["explanation_version"]) == (
        "你的答案错在这里。",
        "model",
        "ft-3",
    )


def test_model_explanations_are_read_in_one_query_per_session(alice, every_type):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from quizbank.models import QuestionExplanation
    from quizbank.selectors.exams import session_view

    session, _ = wrong_choice_review(alice, every_type)
    for question in every_type.values():
        QuestionExplanation.objects.create(question=question, model_version="ft-2", text=f"解析 {question.pk}")
    with CaptureQueriesContext(connection) as queries:
        items = session_view(session)["items"]
    assert all(item["explanation_source"] == "model" for item in items)
    assert sum("questionexplanation" in query["sql"] for query in queries.captured_queries) == 1


def test_no_model_explanation_is_shown_before_the_review_allows_it(client, alice, every_type):
    from quizbank.models import QuestionExplanation

    session = session_start(user=alice, paper=exam(every_type, **REVIEW_NEVER))
    single = every_type[QuestionType.SINGLE_CHOICE]
    QuestionExplanation.objects.create(question=single, model_version="ft-2", text="模型的秘密解析。")
    answer_everything(alice, session, every_type)
    session_finish(user=alice, session_id=session.pk)
    client.force_login(alice)
    page = client.get(reverse("session-review", args=[session.pk])).content.decode()
    assert "模型的秘密解析。" not in page and "data-explain-stream" not in page
