"""While an exam is open, no version of its questions can be practised: not an edited copy, not on a
practice paper, not through the wrong-answer book, not by an answer made before the exam opened.

Each test reproduces a way the key used to reach a student mid-exam, and checks the control after
the exam closes too (the same request then shows the key: the check can see it).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from quizbank.models import Answer, PaperMode, Question, QuestionType, WrongBookEntry
from quizbank.selectors.exams import locked_question_ids, session_view
from quizbank.services import (
    paper_create,
    paper_update,
    question_create,
    session_answer_save,
    session_start,
)
from quizbank.services.papers import RuleSpec, paper_create_random
from quizbank.services.wrongbook import wrong_book_practice_create

pytestmark = pytest.mark.django_db

KEY_TEXT = "解析：只在考后可见的独特解析"


def _question(stem: str, *, subject: str = "测试/锁定") -> Question:
    return question_create(
        data={
            "subject": subject,
            "qtype": QuestionType.SINGLE_CHOICE,
            "stem": stem,
            "options": [{"key": "A", "text": "甲"}, {"key": "B", "text": "乙"}, {"key": "C", "text": "丙"}],
            "answer": "B",
            "explanation": KEY_TEXT,
        }
    )


@pytest.fixture
def exam_question():
    return _question("考试题：哪一个？")


@pytest.fixture
def exam(carol, exam_question):
    return paper_create(
        title="期中考试",
        questions=[exam_question],
        created_by=carol,
        close_at=timezone.now() + timedelta(days=1),
        review_answer="after_close",
        review_explanation="after_close",
    )


@pytest.fixture
def api_alice(alice):
    client = APIClient()
    client.force_authenticate(alice)
    return client


@pytest.fixture
def api_carol(carol):
    client = APIClient()
    client.force_authenticate(carol)
    return client


def _close(exam) -> None:
    paper_update(paper=exam, close_at=timezone.now() - timedelta(seconds=1), open_at=None)


def test_an_edited_copy_of_an_exam_question_cannot_be_practised(exam, exam_question, api_alice, api_carol):
    """The attack: the teacher edits the question mid-exam (a new row); the student practises the new id."""
    edited = api_carol.patch(
        reverse("api-v1-question", args=[exam_question.pk]), {"stem": "考试题：哪一个？（修订）"}, format="json"
    )
    assert edited.status_code == 200
    new_id = edited.json()["id"]
    assert new_id != exam_question.pk  # in use: the edit is the next version

    detail = api_alice.get(reverse("api-v1-question", args=[new_id]))
    answered = api_alice.post(reverse("api-v1-question-answers", args=[new_id]), {"response": "A"}, format="json")
    assert detail.status_code == answered.status_code == 409
    assert answered.json()["extra"]["code"] == "locked"
    assert KEY_TEXT not in answered.content.decode() and '"correct_answer"' not in answered.content.decode()
    assert not Answer.objects.filter(question_id=new_id).exists()

    # The same version and its older and newer versions are all locked.
    assert {exam_question.pk, new_id} <= locked_question_ids()

    _close(exam)
    after = api_alice.post(reverse("api-v1-question-answers", args=[new_id]), {"response": "A"}, format="json")
    assert after.status_code == 201 and after.json()["correct_answer"] == "B"


def test_the_practice_page_turns_away_an_edited_copy(exam, exam_question, client, alice, carol):
    from quizbank.services import question_update

    edited = question_update(question=exam_question, data={"stem": "考试题：改过的题干"})
    client.force_login(alice)
    page = client.post(reverse("practice-question", args=[edited.pk]), {"response": "A"})
    assert page.status_code == 302 and page["Location"] == reverse("practice-index")
    assert not Answer.objects.filter(question=edited).exists()


def test_a_practice_paper_does_not_check_a_question_of_an_open_exam(exam, exam_question, alice, api_alice):
    """The attack: a practice paper holding the exam's question; its save used to return the key."""
    other = _question("练习题：另一个", subject="测试/练习")
    practice = paper_create(title="练习卷", questions=[exam_question, other], mode=PaperMode.PRACTICE)
    started = api_alice.post(reverse("api-v1-paper-sessions", args=[practice.pk]))
    assert started.status_code == 201
    session_id = started.json()["id"]
    positions = {item["stem"]: item["position"] for item in started.json()["items"]}
    save_url = reverse("api-v1-session-answer", args=[session_id, positions[exam_question.stem]])

    refused = api_alice.put(save_url, {"response": "A", "client_seq": 1}, format="json")
    assert refused.status_code == 409 and refused.json()["extra"]["code"] == "locked"
    assert KEY_TEXT not in refused.content.decode() and '"key"' not in refused.content.decode()
    assert not Answer.objects.filter(session_id=session_id).exists()

    # The other question is checked as practice always was: key and explanation at once.
    checked = api_alice.put(
        reverse("api-v1-session-answer", args=[session_id, positions[other.stem]]),
        {"response": "A", "client_seq": 1},
        format="json",
    )
    assert checked.status_code == 200 and checked.json()["item"]["key"]["answer"] == "B"

    view = api_alice.get(reverse("api-v1-session", args=[session_id])).json()
    locked = next(item for item in view["items"] if item["stem"] == exam_question.stem)
    assert locked["locked"] is True and "key" not in locked and "explanation" not in locked

    _close(exam)
    after = api_alice.put(save_url, {"response": "A", "client_seq": 2}, format="json")
    assert after.status_code == 200 and after.json()["item"]["explanation"] == KEY_TEXT


def test_a_practice_paper_answered_before_the_exam_hides_its_key_while_the_exam_runs(alice, carol):
    """Checked before the exam existed, the key is kept out of the session's view while the exam runs."""
    question = _question("先练后考的题")
    practice = paper_create(title="练习卷", questions=[question], mode=PaperMode.PRACTICE)
    session = session_start(user=alice, paper=practice)
    session_answer_save(user=alice, session_id=session.pk, position=1, response="A")
    assert session_view(session)["items"][0]["key"]["answer"] == "B"

    paper_create(title="考试", questions=[question], created_by=carol, close_at=timezone.now() + timedelta(hours=2))
    item = session_view(session)["items"][0]
    assert item["locked"] is True
    assert not {"key", "explanation", "correct", "awarded"} & set(item)


def test_a_random_practice_paper_never_draws_a_question_of_an_open_exam(exam, exam_question, alice):
    free = [_question(f"自由练习题{number}") for number in range(3)]
    practice = paper_create_random(
        title="随机练习",
        rules=[RuleSpec(count=3, subject="测试/锁定")],
        mode=PaperMode.PRACTICE,
        attempts_allowed=0,
    )
    drawn = set()
    for _ in range(6):
        session = session_start(user=alice, paper=practice)
        drawn |= set(session.items.values_list("question_id", flat=True))
        session.delete()
    assert drawn == {question.pk for question in free}
    assert exam_question.pk not in drawn


def test_the_wrong_book_leaves_out_every_version_of_a_question_of_an_open_exam(alice, carol):
    """Even where the exam shows keys on submission: a version of the question is on an exam classmates
    may still be answering."""
    from quizbank.services import question_update

    question = _question("错题：先错后考")
    WrongBookEntry.objects.create(
        user=alice, question=question, first_wrong_at=timezone.now(), last_wrong_at=timezone.now(), times_wrong=1
    )
    edited = question_update(question=question, data={"stem": "错题：先错后考（新版）"})
    exam = paper_create(
        title="考试", questions=[edited], created_by=carol, close_at=timezone.now() + timedelta(hours=2)
    )
    exam.review_answer = "immediately"
    exam.save(update_fields=["review_answer"])
    with pytest.raises(Exception, match="exams that are still open"):
        wrong_book_practice_create(user=alice)

    _close(exam)
    paper = wrong_book_practice_create(user=alice)
    assert list(paper.items.values_list("question_id", flat=True)) == [question.pk]


def test_a_practice_answer_made_before_the_exam_opened_shows_no_key_while_it_runs(alice, api_alice, client, carol):
    question = _question("考前练过的题")
    made = api_alice.post(reverse("api-v1-question-answers", args=[question.pk]), {"response": "A"}, format="json")
    assert made.status_code == 201
    answer_id = made.json()["id"]
    assert api_alice.get(reverse("api-v1-answer", args=[answer_id])).json()["correct_answer"] == "B"

    exam = paper_create(
        title="考试", questions=[question], created_by=carol, close_at=timezone.now() + timedelta(hours=2)
    )
    detail = api_alice.get(reverse("api-v1-answer", args=[answer_id]))
    assert detail.status_code == 409 and KEY_TEXT not in detail.content.decode()
    client.force_login(alice)
    page = client.get(reverse("practice-answer", args=[answer_id]))
    assert page.status_code == 302 and KEY_TEXT not in page.content.decode()

    _close(exam)
    assert api_alice.get(reverse("api-v1-answer", args=[answer_id])).status_code == 200


def test_an_exam_that_showed_its_key_unlocks_it_only_for_those_who_submitted(alice, bob, carol):
    """alice submitted an exam that shows keys on submission: she may practise its question; bob, who has
    not taken it yet, may not (practice would show him the key before his attempt)."""
    question = _question("交卷即见答案的考题")
    exam = paper_create(
        title="小测",
        questions=[question],
        created_by=carol,
        close_at=timezone.now() + timedelta(hours=2),
        review_answer="immediately",
    )
    from quizbank.services import session_finish

    attempt = session_start(user=alice, paper=exam)
    session_answer_save(user=alice, session_id=attempt.pk, position=1, response="A")
    session_finish(user=alice, session_id=attempt.pk)

    assert question.pk not in locked_question_ids(user=alice)
    assert question.pk in locked_question_ids(user=bob)
    assert question.pk in locked_question_ids()  # training data and anyone unnamed
    drill = paper_create(title="练习", questions=[question], mode=PaperMode.PRACTICE, attempts_allowed=0)
    session_answer_save(user=alice, session_id=session_start(user=alice, paper=drill).pk, position=1, response="B")
    with pytest.raises(Exception, match="still open"):
        session_answer_save(user=bob, session_id=session_start(user=bob, paper=drill).pk, position=1, response="B")


def test_the_practice_page_shows_a_locked_question_without_a_check_button(exam, exam_question, alice, client):
    other = _question("练习题：可以检查", subject="测试/练习")
    practice = paper_create(title="练习卷", questions=[exam_question, other], mode=PaperMode.PRACTICE)
    session = session_start(user=alice, paper=practice)
    client.force_login(alice)
    page = client.get(reverse("session-take", args=[session.pk])).content.decode()
    sections = {
        stem: page[page.index(stem) : page.index("</section>", page.index(stem))]
        for stem in (exam_question.stem, other.stem)
    }
    assert "data-locked" in sections[exam_question.stem] and "data-check" not in sections[exam_question.stem]
    assert "data-locked" not in sections[other.stem] and "data-check" in sections[other.stem]
    assert KEY_TEXT not in page
