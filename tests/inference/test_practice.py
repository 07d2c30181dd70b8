"""Answering a question in the browser pages and the API, with and without a model server."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from quizbank.models import Answer

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(alice):
    client = APIClient()
    client.force_authenticate(alice)
    return client


def wrong_key(question):
    return next(key for key in question.option_keys if key != question.answer)


def test_the_question_api_never_sends_the_key_or_explanation(api, demo_bank):
    question = demo_bank[0]
    body = api.get(reverse("api-v1-question", args=[question.pk])).json()
    assert set(body) == {"id", "subject", "type", "stem", "options", "score"}
    assert question.explanation not in str(body)


def test_the_question_page_has_no_key_in_its_html(client, alice, demo_bank):
    client.force_login(alice)
    question = demo_bank[0]
    html = client.get(reverse("practice-question", args=[question.pk])).content.decode()
    assert question.stem in html
    assert question.explanation not in html
    assert "答案" not in html and "data-answer" not in html and "data-correct" not in html


def test_answers_are_graded_exactly_and_kept_when_no_model_server_answers(api, alice, demo_bank, no_model_server):
    question = demo_bank[0]
    right = api.post(
        reverse("api-v1-question-answers", args=[question.pk]), {"response": question.answer}, format="json"
    )
    wrong = api.post(
        reverse("api-v1-question-answers", args=[question.pk]), {"response": wrong_key(question)}, format="json"
    )
    assert right.status_code == wrong.status_code == 201
    assert right.json()["is_correct"] is True and float(right.json()["score"]) == float(question.score)
    assert wrong.json()["is_correct"] is False and float(wrong.json()["score"]) == 0
    # no model: the bank's explanation, labelled as such, and the answer is stored
    assert wrong.json()["explanation"] == question.explanation
    assert wrong.json()["explanation_source"] == "bank" and wrong.json()["ai_generated"] is False
    assert Answer.objects.filter(user=alice).count() == 2
    assert "not available" in Answer.objects.get(pk=wrong.json()["id"]).explanation_error


def test_an_answer_that_is_not_an_option_is_refused_with_the_field(api, demo_bank):
    response = api.post(reverse("api-v1-question-answers", args=[demo_bank[0].pk]), {"response": "Q"}, format="json")
    assert response.status_code == 400
    assert response.json()["extra"] == {"field": "response"}
    assert "not one of the options" in response.json()["message"]
    assert Answer.objects.count() == 0


def test_a_student_cannot_read_another_students_answer(api, bob, demo_bank, no_model_server):
    other = APIClient()
    other.force_authenticate(bob)
    created = other.post(reverse("api-v1-question-answers", args=[demo_bank[0].pk]), {"response": "A"}, format="json")
    assert api.get(reverse("api-v1-answer", args=[created.json()["id"]])).status_code == 404
    assert other.get(reverse("api-v1-answer", args=[created.json()["id"]])).status_code == 200


def test_anonymous_users_are_sent_to_log_in(client, demo_bank):
    assert client.get(reverse("practice-index")).status_code == 302
    assert APIClient().get(reverse("api-v1-question", args=[demo_bank[0].pk])).status_code == 403


def test_seed_demo_creates_users_roles_and_an_exam(demo_bank, client):
    from django.core.management import call_command

    from quizbank.demo import DEMO_PAPER_TITLE, DEMO_PRACTICE_TITLE
    from quizbank.models import Paper

    call_command("seed_demo")
    call_command("seed_demo")  # safe to run again
    assert Paper.objects.filter(title__in=[DEMO_PAPER_TITLE, DEMO_PRACTICE_TITLE]).count() == 2
    exam = Paper.objects.get(title=DEMO_PAPER_TITLE)
    practice = Paper.objects.get(title=DEMO_PRACTICE_TITLE)
    assert client.login(username="student1", password="quizsite-demo")
    page = client.get(reverse("practice-index")).content.decode()
    assert "演示测验" in page and "演示练习" in page
    # the open exam's questions cannot be practised one by one; the practice paper's can
    assert reverse("practice-question", args=[exam.items.last().question_id]) not in page
    assert reverse("practice-question", args=[practice.items.last().question_id]) in page


def test_a_question_on_an_open_exam_cannot_be_practised(client, alice, demo_bank):
    from quizbank.services import paper_create

    question = demo_bank[0]
    paper_create(title="期中考试", questions=[question])
    client.force_login(alice)
    page = client.get(reverse("practice-question", args=[question.pk]), follow=True)
    assert question.stem not in page.content.decode()
    assert "cannot be practised" in page.content.decode() or "不能练习" in page.content.decode()
    refused = client.post(reverse("practice-question", args=[question.pk]), {"response": question.answer})
    assert refused.status_code == 302 and Answer.objects.count() == 0


def test_the_practice_api_refuses_a_question_on_an_open_exam_as_a_conflict(api, demo_bank):
    from quizbank.services import paper_create

    question = demo_bank[0]
    paper_create(title="期中考试", questions=[question])
    shown = api.get(reverse("api-v1-question", args=[question.pk]))
    answered = api.post(reverse("api-v1-question-answers", args=[question.pk]), {"response": question.answer})
    for refused in (shown, answered):
        assert refused.status_code == 409 and refused.json()["extra"] == {"code": "locked"}
    assert Answer.objects.count() == 0


def test_an_exam_answer_has_no_practice_answer_page(client, alice, demo_bank):
    from quizbank.services import paper_create, session_answer_save, session_start

    paper = paper_create(title="期中考试", questions=demo_bank[:2])
    session = session_start(user=alice, paper=paper)
    answer = session_answer_save(user=alice, session_id=session.pk, position=1, response="A")
    client.force_login(alice)
    assert client.get(reverse("practice-answer", args=[answer.pk])).status_code == 404
