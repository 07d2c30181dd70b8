"""The /api/v1 exam API: papers, attempts, grading, results and the wrong-answer book."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from quizbank.models import Answer, Paper, QuizSession
from quizbank.services import paper_create, question_create
from quizbank.services.papers import PAPER_SETTINGS

pytestmark = pytest.mark.django_db

IMMEDIATE_REVIEW = {
    "review_score": "immediately",
    "review_correctness": "immediately",
    "review_answer": "immediately",
    "review_explanation": "immediately",
}


def api(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def item_fields(body) -> set[str]:
    """The fields of every question in a response: a session view, a list of them, a saved item."""
    fields: set[str] = set()
    for view in body if isinstance(body, list) else [body]:
        for item in [*view.get("items", []), *([view["item"]] if "item" in view else [])]:
            fields |= set(item)
    return fields


def start(client, paper):
    return client.post(reverse("api-v1-paper-sessions", args=[paper.pk]))


def save(client, session_id, position, response, client_seq=0):
    url = reverse("api-v1-session-answer", args=[session_id, position])
    return client.put(url, {"response": response, "client_seq": client_seq}, format="json")


def wrong_option(question) -> str:
    return next(key for key in question.option_keys if key != question.answer)


@pytest.fixture
def exam(demo_bank, carol):
    """Three single-choice questions; the default review policy (keys and explanations after close)."""
    return paper_create(title="期中考试", questions=demo_bank[:3], created_by=carol)


@pytest.fixture
def essay(db):
    return question_create(
        data={
            "subject": "语文/写作",
            "qtype": "essay",
            "stem": "以“春天”为题写一段话。",
            "answer": "写出春天的景物与感受。",
            "score": Decimal(10),
        }
    )


# --- sessions -----------------------------------------------------------------------------


def test_start_save_reload_finish_and_review(alice, exam, demo_bank):
    client = api(alice)
    started = start(client, exam)
    assert started.status_code == 201, started.json()
    session = started.json()
    assert session["state"] == "in_progress" and [item["position"] for item in session["items"]] == [1, 2, 3]

    first = demo_bank[0]
    saved = save(client, session["id"], 1, first.answer, client_seq=1)
    assert saved.status_code == 200, saved.json()
    assert saved.json()["position"] == 1 and saved.json()["client_seq"] == 1 and "item" not in saved.json()

    reloaded = client.get(reverse("api-v1-session", args=[session["id"]])).json()
    assert reloaded["items"][0]["response"] == first.answer and reloaded["items"][0]["saved_at"]
    assert reloaded["items"][1]["response"] is None
    assert client.get(reverse("api-v1-session-review", args=[session["id"]])).status_code == 409

    finished = client.post(reverse("api-v1-session-finish", args=[session["id"]]))
    assert finished.status_code == 200 and finished.json()["state"] == "finished"
    assert Decimal(finished.json()["score"]) == first.score
    again = client.post(reverse("api-v1-session-finish", args=[session["id"]]))
    assert again.status_code == 200 and again.json()["finished_at"] == finished.json()["finished_at"]

    review = client.get(reverse("api-v1-session-review", args=[session["id"]]))
    assert review.status_code == 200 and review.json()["items"][0]["response"] == first.answer
    assert "key" not in item_fields(review.json())  # review_answer is after_close and the paper never closes

    listed = client.get(reverse("api-v1-sessions")).json()
    assert [(s["id"], s["question_count"], s["answered_count"]) for s in listed] == [(session["id"], 3, 1)]
    assert "items" not in listed[0]


def test_starting_again_resumes_the_open_session(alice, exam):
    client = api(alice)
    first = start(client, exam)
    resumed = start(client, exam)
    assert first.status_code == 201 and resumed.status_code == 200
    assert resumed.json()["id"] == first.json()["id"] and QuizSession.objects.count() == 1
    client.post(reverse("api-v1-session-finish", args=[first.json()["id"]]))
    refused = start(client, exam)
    assert refused.status_code == 409 and refused.json()["extra"]["code"] == "no_attempts"


def test_a_repeated_save_is_one_answer_and_an_older_save_never_wins(alice, exam, demo_bank):
    client = api(alice)
    session_id = start(client, exam).json()["id"]
    question = demo_bank[0]
    assert save(client, session_id, 1, question.answer, client_seq=2).status_code == 200
    assert save(client, session_id, 1, question.answer, client_seq=2).status_code == 200
    assert Answer.objects.filter(session_id=session_id).count() == 1

    late = save(client, session_id, 1, wrong_option(question), client_seq=1)
    assert late.status_code == 200 and late.json()["client_seq"] == 2
    view = client.get(reverse("api-v1-session", args=[session_id])).json()
    assert view["items"][0]["response"] == question.answer


def test_a_response_the_question_cannot_take_names_the_field(alice, exam):
    client = api(alice)
    session_id = start(client, exam).json()["id"]
    bad = save(client, session_id, 1, "Z")
    assert bad.status_code == 400 and bad.json()["extra"]["field"] == "response"
    missing = client.put(reverse("api-v1-session-answer", args=[session_id, 1]), {}, format="json")
    assert missing.status_code == 400 and "response" in missing.json()["extra"]["fields"]
    assert save(client, session_id, 9, "A").status_code == 400  # no question 9


def test_saving_after_the_deadline_is_refused(alice, demo_bank, carol):
    paper = paper_create(title="限时测验", questions=demo_bank[:2], created_by=carol, time_limit_seconds=600)
    client = api(alice)
    session = start(client, paper).json()
    assert session["deadline"] and 590 <= session["seconds_left"] <= 600
    QuizSession.objects.filter(pk=session["id"]).update(deadline=timezone.now() - timedelta(seconds=1))

    late = save(client, session["id"], 1, demo_bank[0].answer)
    assert late.status_code == 409 and late.json()["extra"]["code"] == "time_up"
    assert not Answer.objects.filter(session_id=session["id"]).exclude(response="").exists()
    # The timer submitted the attempt (overdue rule autosubmit).
    assert client.get(reverse("api-v1-session", args=[session["id"]])).json()["state"] == "finished"


def test_the_paper_window_is_enforced(alice, demo_bank, carol):
    now = timezone.now()
    later = paper_create(title="下周", questions=demo_bank[:1], created_by=carol, open_at=now + timedelta(days=7))
    over = paper_create(title="上周", questions=demo_bank[:1], created_by=carol, close_at=now - timedelta(days=1))
    client = api(alice)
    assert start(client, later).status_code == 409 and start(client, later).json()["extra"]["code"] == "not_open"
    assert start(client, over).status_code == 409 and start(client, over).json()["extra"]["code"] == "closed"


def test_sequential_navigation(alice, demo_bank, carol):
    paper = paper_create(title="顺序作答", questions=demo_bank[:2], created_by=carol, navigation="sequential")
    client = api(alice)
    session_id = start(client, paper).json()["id"]
    ahead = save(client, session_id, 2, "A")
    assert ahead.status_code == 409 and ahead.json()["extra"]["code"] == "sequential"
    moved = client.post(reverse("api-v1-session-advance", args=[session_id]))
    assert moved.status_code == 200 and moved.json()["current_position"] == 2
    assert save(client, session_id, 2, "A").status_code == 200


def test_another_students_session_does_not_exist_for_them(alice, bob, exam):
    session_id = start(api(alice), exam).json()["id"]
    client = api(bob)
    assert client.get(reverse("api-v1-session", args=[session_id])).status_code == 404
    assert save(client, session_id, 1, "A").status_code == 404
    assert client.get(reverse("api-v1-session-review", args=[session_id])).status_code == 404
    assert client.post(reverse("api-v1-session-advance", args=[session_id])).status_code == 404
    assert client.post(reverse("api-v1-session-finish", args=[session_id])).status_code == 404
    assert client.get(reverse("api-v1-sessions")).json() == []
    assert not Answer.objects.exists()
    assert QuizSession.objects.get(pk=session_id).state == "in_progress"


def test_no_key_or_explanation_leaves_during_an_exam_and_both_appear_after_it(alice, demo_bank, carol):
    questions = demo_bank[:3]
    paper = paper_create(title="即时解析", questions=questions, created_by=carol, **IMMEDIATE_REVIEW)
    hidden = {"key", "explanation", "correct", "awarded", "feedback", "general_feedback"}
    client = api(alice)

    bodies = [start(client, paper), start(client, paper)]
    session_id = bodies[0].json()["id"]
    bodies += [
        save(client, session_id, 1, questions[0].answer),
        save(client, session_id, 2, wrong_option(questions[1])),
        client.get(reverse("api-v1-session", args=[session_id])),
        client.get(reverse("api-v1-sessions")),
        client.post(reverse("api-v1-session-advance", args=[session_id])),
        client.get(reverse("api-v1-session-review", args=[session_id])),
        client.get(reverse("api-v1-papers")),
        client.get(reverse("api-v1-paper", args=[paper.pk])),
    ]
    for response in bodies:
        text = response.content.decode()
        assert not item_fields(response.json()) & hidden, text
        assert "fraction" not in text and "correct_options" not in text, text
        assert not any(question.explanation in text for question in questions), text
    assert "score" not in bodies[4].json()  # no score while answering

    finished = client.post(reverse("api-v1-session-finish", args=[session_id])).json()
    first, second, _ = finished["items"]
    assert first["key"]["correct_options"] == [questions[0].answer] and first["correct"] is True
    assert second["correct"] is False and second["explanation"] == questions[1].explanation


# --- papers -------------------------------------------------------------------------------


def test_students_see_their_papers_as_cards_without_questions(alice, bob, carol, exam, demo_bank):
    hidden = paper_create(title="未发布", questions=demo_bank[3:4], created_by=carol, published=False)
    mine = paper_create(title="alice 的练习", questions=demo_bank[4:5], owner=alice, mode="practice")
    theirs = paper_create(title="bob 的练习", questions=demo_bank[5:6], owner=bob, mode="practice")
    client = api(alice)

    cards = client.get(reverse("api-v1-papers")).json()
    assert {card["id"] for card in cards} == {exam.pk, mine.pk}
    assert set(cards[0]) == {
        "id",
        "title",
        "description",
        "mode",
        "kind",
        "open_at",
        "close_at",
        "time_limit_seconds",
        "attempts_allowed",
        "attempts_used",
        "question_count",
        "grade",
        "open_session",
    }
    for paper in (hidden, theirs):
        assert client.get(reverse("api-v1-paper", args=[paper.pk])).status_code == 404
        assert start(client, paper).status_code == 404

    session_id = start(client, exam).json()["id"]
    card = client.get(reverse("api-v1-paper", args=[exam.pk])).json()
    assert (card["question_count"], card["attempts_used"], card["open_session"], card["grade"]) == (
        3,
        1,
        session_id,
        None,
    )
    save(client, session_id, 1, demo_bank[0].answer)
    client.post(reverse("api-v1-session-finish", args=[session_id]))
    card = client.get(reverse("api-v1-paper", args=[exam.pk])).json()
    assert card["open_session"] is None and card["grade"] == "2.00"  # review_score: immediately
    Paper.objects.filter(pk=exam.pk).update(review_score="never")
    assert client.get(reverse("api-v1-paper", args=[exam.pk])).json()["grade"] is None

    teacher_ids = {paper["id"] for paper in api(carol).get(reverse("api-v1-papers")).json()}
    assert teacher_ids == {exam.pk, hidden.pk, mine.pk, theirs.pk}


def test_teachers_create_and_update_papers(carol, demo_bank):
    client = api(carol)
    ids = [question.pk for question in demo_bank[:3]]
    fixed = client.post(
        reverse("api-v1-papers"),
        {"title": "单元测验", "question_ids": ids, "scores": [5, 5, 10], "time_limit_seconds": 1800},
        format="json",
    )
    assert fixed.status_code == 201, fixed.json()
    body = fixed.json()
    assert body["kind"] == "fixed" and body["question_count"] == 3 and body["time_limit_seconds"] == 1800
    assert [(q["question"], q["score"]) for q in body["questions"]] == list(
        zip(ids, ["5.00", "5.00", "10.00"], strict=True)
    )

    drawn = client.post(
        reverse("api-v1-papers"),
        {"title": "随机卷", "rules": [{"subject": "数学/四则运算", "count": 5, "score": "2"}]},
        format="json",
    )
    assert drawn.status_code == 201, drawn.json()
    assert drawn.json()["kind"] == "random" and drawn.json()["question_count"] == 5

    both = {"title": "x", "question_ids": ids, "rules": [{"count": 1}]}
    assert client.post(reverse("api-v1-papers"), both, format="json").status_code == 400
    unknown = client.post(reverse("api-v1-papers"), {"title": "x", "question_ids": ids, "colour": "red"}, format="json")
    assert unknown.status_code == 400 and "colour" in unknown.json()["extra"]["fields"]
    too_many = client.post(reverse("api-v1-papers"), {"title": "x", "rules": [{"count": 1000}]}, format="json")
    assert too_many.status_code == 400 and not Paper.objects.filter(title="x").exists()

    url = reverse("api-v1-paper", args=[body["id"]])
    updated = client.patch(url, {"published": False, "review_answer": "immediately"}, format="json")
    assert updated.status_code == 200 and updated.json()["published"] is False
    assert updated.json()["review_answer"] == "immediately"
    assert client.patch(url, {"review_answer": "soon"}, format="json").status_code == 400
    assert client.patch(url, {"title": "改名"}, format="json").status_code == 400
    assert client.get(url).json()["questions"][0]["stem"] == demo_bank[0].stem


def test_teacher_endpoints_refuse_students_and_anonymous_users(alice, exam):
    answer_url = reverse("api-v1-answer-grade", args=[1])
    calls = [
        ("post", reverse("api-v1-papers"), {"title": "x", "question_ids": [1]}),
        ("patch", reverse("api-v1-paper", args=[exam.pk]), {"published": False}),
        ("get", reverse("api-v1-paper-results", args=[exam.pk]), None),
        ("get", reverse("api-v1-paper-statistics", args=[exam.pk]), None),
        ("get", reverse("api-v1-grading"), None),
        ("post", answer_url, {"score": 1}),
    ]
    for method, url, data in calls:
        assert getattr(api(alice), method)(url, data, format="json").status_code == 403, url
        assert getattr(api(), method)(url, data, format="json").status_code in (401, 403), url
    for url in (reverse("api-v1-papers"), reverse("api-v1-sessions"), reverse("api-v1-wrong-book")):
        assert api().get(url).status_code in (401, 403)
    exam.refresh_from_db()
    assert exam.published is True


# --- grading and results ------------------------------------------------------------------


def test_a_teacher_grades_a_pending_essay_and_the_score_follows(alice, carol, demo_bank, essay):
    paper = paper_create(title="作文", questions=[demo_bank[0], essay], created_by=carol)
    client = api(alice)
    session_id = start(client, paper).json()["id"]
    save(client, session_id, 1, demo_bank[0].answer)
    save(client, session_id, 2, "春天来了，柳树发芽，燕子归来。")
    answer = Answer.objects.get(session_id=session_id, question=essay)
    teacher = api(carol)
    grade_url = reverse("api-v1-answer-grade", args=[answer.pk])
    early = teacher.post(grade_url, {"score": 5}, format="json")
    assert early.status_code == 409 and early.json()["extra"]["code"] == "session_open"

    finished = client.post(reverse("api-v1-session-finish", args=[session_id])).json()
    assert (Decimal(finished["score"]), finished["pending_count"]) == (2, 1)
    queue = teacher.get(reverse("api-v1-grading"), {"paper": paper.pk}).json()
    assert queue["count"] == 1 and queue["results"][0]["id"] == answer.pk
    assert queue["results"][0]["question"]["answer"] == essay.answer and queue["results"][0]["position"] == 2

    too_high = teacher.post(grade_url, {"score": 11, "feedback": "?"}, format="json")
    assert too_high.status_code == 400 and too_high.json()["extra"]["field"] == "score"
    assert teacher.post(grade_url, {"score": -1}, format="json").status_code == 400
    graded = teacher.post(grade_url, {"score": "8", "feedback": "描写生动"}, format="json")
    assert graded.status_code == 200, graded.json()
    body = graded.json()
    assert (body["score"], body["grade_status"], body["original_status"]) == ("8.00", "teacher", "pending")
    assert body["session"] == {
        "id": session_id,
        "state": "finished",
        "score": "10.00",
        "max_score": "12.00",
        "pending_count": 0,
    }
    assert teacher.get(reverse("api-v1-grading")).json()["count"] == 0

    review = client.get(reverse("api-v1-session-review", args=[session_id])).json()
    assert review["score"] == "10.00" and review["items"][1]["feedback"] == "描写生动"
    assert teacher.post(reverse("api-v1-answer-grade", args=[999999]), {"score": 1}).status_code == 404


def test_results_and_item_statistics(alice, bob, carol, exam, demo_bank):
    for student, right in ((alice, True), (bob, False)):
        client = api(student)
        session_id = start(client, exam).json()["id"]
        for position, question in enumerate(demo_bank[:3], start=1):
            save(client, session_id, position, question.answer if right else wrong_option(question))
        client.post(reverse("api-v1-session-finish", args=[session_id]))
    teacher = api(carol)

    results = teacher.get(reverse("api-v1-paper-results", args=[exam.pk])).json()
    assert [(s["user"]["username"], s["state"]) for s in results["sessions"]] == [
        ("alice", "finished"),
        ("bob", "finished"),
    ]
    grades = {grade["user"]["username"]: grade["grade"] for grade in results["grades"]}
    total = sum(question.score for question in demo_bank[:3])
    assert grades == {"alice": str(total.quantize(Decimal("0.01"))), "bob": "0.00"}

    statistics = teacher.get(reverse("api-v1-paper-statistics", args=[exam.pk])).json()
    assert [item["position"] for item in statistics["items"]] == [1, 2, 3]
    assert all(item["facility"] == 0.5 and item["attempts"] == 2 for item in statistics["items"])
    assert teacher.get(reverse("api-v1-paper-results", args=[999999])).status_code == 404


def test_lists_take_the_same_number_of_queries_whatever_their_length(alice, bob, carol, demo_bank):
    """Papers, attempts and results are read in a fixed number of queries: no query per row."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    immediately = {"created_by": carol, "attempts_allowed": 0, **IMMEDIATE_REVIEW}

    def queries(client, name, *args) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(reverse(name, args=args)).status_code == 200
        return len(captured)

    def take(student, paper):
        client = api(student)
        session_id = start(client, paper).json()["id"]
        save(client, session_id, 1, demo_bank[0].answer)
        client.post(reverse("api-v1-session-finish", args=[session_id]))

    first = paper_create(title="第一卷", questions=demo_bank[:2], **immediately)
    take(alice, first)
    take(bob, first)
    counted = {
        name: queries(api(user), name, *args)
        for name, user, args in (
            ("api-v1-papers", alice, ()),
            ("api-v1-sessions", alice, ()),
            ("api-v1-paper-results", carol, (first.pk,)),
        )
    }
    for title in ("第二卷", "第三卷"):
        paper = paper_create(title=title, questions=demo_bank[:2], **immediately)
        take(alice, paper)
        take(alice, paper)
    for student in (alice, bob):
        take(student, first)
    assert queries(api(alice), "api-v1-papers") == counted["api-v1-papers"]
    assert queries(api(alice), "api-v1-sessions") == counted["api-v1-sessions"]
    assert queries(api(carol), "api-v1-paper-results", first.pk) == counted["api-v1-paper-results"]


# --- wrong-answer book and practice -------------------------------------------------------


def test_practice_mode_checks_each_saved_answer(alice, demo_bank, carol):
    question = demo_bank[0]
    paper = paper_create(title="练习", questions=[question], created_by=carol, mode="practice", attempts_allowed=0)
    client = api(alice)
    session_id = start(client, paper).json()["id"]
    checked = save(client, session_id, 1, wrong_option(question))
    assert checked.status_code == 200
    item = checked.json()["item"]
    assert item["correct"] is False and item["key"]["correct_options"] == [question.answer]
    assert item["explanation"] == question.explanation
    changed = save(client, session_id, 1, question.answer)
    assert changed.status_code == 409 and changed.json()["extra"]["code"] == "checked"


def test_wrong_book_practice_starts_after_a_wrong_exam_answer(alice, bob, demo_bank, carol):
    question = demo_bank[0]
    paper = paper_create(
        title="周测", questions=[question], created_by=carol, close_at=timezone.now() + timedelta(hours=1)
    )
    client = api(alice)
    session_id = start(client, paper).json()["id"]
    save(client, session_id, 1, wrong_option(question))
    client.post(reverse("api-v1-session-finish", args=[session_id]))
    # Right and wrong are shown after the exam closes: until then the book does not tell either.
    assert client.get(reverse("api-v1-wrong-book")).json() == []
    Paper.objects.filter(pk=paper.pk).update(close_at=timezone.now() - timedelta(minutes=1))  # the exam is over
    book = client.get(reverse("api-v1-wrong-book")).json()
    assert [(entry["question"]["id"], entry["times_wrong"]) for entry in book] == [(question.pk, 1)]
    assert "answer" not in book[0]["question"] and "explanation" not in book[0]["question"]

    practice = client.post(reverse("api-v1-wrong-book-practice"))
    assert practice.status_code == 201, practice.json()
    body = practice.json()
    assert body["paper"]["mode"] == "practice" and [item["stem"] for item in body["items"]] == [question.stem]
    item = save(client, body["id"], 1, question.answer).json()["item"]
    assert item["correct"] is True

    empty = api(bob).post(reverse("api-v1-wrong-book-practice"))
    assert empty.status_code == 409 and empty.json()["extra"]["code"] == "empty"
    assert not Paper.objects.filter(owner=bob).exists()


# --- auth and schema ----------------------------------------------------------------------


def test_a_token_authenticates_api_calls(alice, exam):
    anonymous = APIClient(enforce_csrf_checks=True)
    refused = anonymous.post(reverse("api-v1-auth-token"), {"username": "alice", "password": "wrong"}, format="json")
    assert refused.status_code == 400
    issued = anonymous.post(
        reverse("api-v1-auth-token"), {"username": "alice", "password": "alice-pass-123"}, format="json"
    )
    assert issued.status_code == 200
    token = issued.json()["token"]

    client = APIClient(enforce_csrf_checks=True)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert [card["id"] for card in client.get(reverse("api-v1-papers")).json()] == [exam.pk]
    assert start(client, exam).status_code == 201  # token requests need no CSRF token
    client.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    assert client.get(reverse("api-v1-papers")).status_code in (401, 403)


def test_paper_settings_input_covers_every_paper_setting():
    from quizbank.apis.papers import PaperSettingsInputSerializer

    assert set(PaperSettingsInputSerializer().fields) == set(PAPER_SETTINGS)


CONTRACT = {
    "/api/v1/auth/token": {"post"},
    "/api/v1/papers": {"get", "post"},
    "/api/v1/papers/{paper_id}": {"get", "patch"},
    "/api/v1/papers/{paper_id}/sessions": {"post"},
    "/api/v1/papers/{paper_id}/results": {"get"},
    "/api/v1/papers/{paper_id}/statistics": {"get"},
    "/api/v1/sessions": {"get"},
    "/api/v1/sessions/{session_id}": {"get"},
    "/api/v1/sessions/{session_id}/answers/{position}": {"put"},
    "/api/v1/sessions/{session_id}/answers": {"put"},
    "/api/v1/sessions/{session_id}/advance": {"post"},
    "/api/v1/sessions/{session_id}/finish": {"post"},
    "/api/v1/sessions/{session_id}/review": {"get"},
    "/api/v1/grading": {"get"},
    "/api/v1/answers/{answer_id}/grade": {"post"},
    "/api/v1/wrong-book": {"get"},
    "/api/v1/wrong-book/practice": {"post"},
}


def test_the_schema_documents_every_exam_endpoint(carol):
    schema = api(carol).get(reverse("api-schema"), {"format": "json"}).json()
    operation_ids = []
    for path, methods in CONTRACT.items():
        assert path in schema["paths"], path
        operations = schema["paths"][path]
        assert methods <= set(operations), path
        for method in methods:
            operation = operations[method]
            assert operation["operationId"] and operation.get("summary"), (path, method)
            assert set(operation["tags"]) <= {"auth", "papers", "sessions", "grading", "wrong-book"}
            operation_ids.append(operation["operationId"])
    assert len(operation_ids) == len(set(operation_ids))


def test_the_exam_api_schema_generates_without_warnings():
    from drf_spectacular.drainage import GENERATOR_STATS
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.validation import validate_schema

    from quizbank import exam_api_urls

    GENERATOR_STATS.reset()
    schema = SchemaGenerator(patterns=exam_api_urls.urlpatterns).get_schema(request=None, public=True)
    validate_schema(schema)
    assert not GENERATOR_STATS, (dict(GENERATOR_STATS._warn_cache), dict(GENERATOR_STATS._error_cache))
    assert set(schema["paths"]) == set(CONTRACT)


@pytest.mark.parametrize(
    ("policy", "slot_reads"),
    [
        ({"review_correctness": "immediately", "review_answer": "immediately"}, 1),
        (IMMEDIATE_REVIEW, 2),  # the model's explanations are read with the slots again
    ],
)
def test_a_submission_shows_what_the_review_shows_reading_the_slots_once(alice, carol, demo_bank, policy, slot_reads):
    """The finished attempt's view comes from the slots the submission read under its lock (the empty
    answers it made included), unless the view needs the model's explanations."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    paper = paper_create(title="交卷", questions=demo_bank[:4], created_by=carol, attempts_allowed=0, **policy)
    client = api(alice)
    session_id = start(client, paper).json()["id"]
    save(client, session_id, 1, demo_bank[0].answer)
    save(client, session_id, 3, wrong_option(demo_bank[2]))
    with CaptureQueriesContext(connection) as captured:
        finished = client.post(reverse("api-v1-session-finish", args=[session_id]))
    assert finished.status_code == 200
    assert sum('FROM "quizbank_sessionitem"' in query["sql"] for query in captured) == slot_reads
    review = client.get(reverse("api-v1-session-review", args=[session_id])).json()
    assert finished.json() == review
    shown = finished.json()
    assert [item["grade_status"] for item in shown["items"]] == ["auto"] * 4
    assert [item["correct"] for item in shown["items"]] == [True, False, False, False]
    assert [item["response"] for item in shown["items"]][1::2] == [None, None]  # the empty answers made


def test_a_start_reads_the_students_attempts_once(alice, carol, demo_bank):
    """The open attempt and the number of attempts come from one read: a new attempt is numbered after
    every earlier one, and an open one is resumed."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    paper = paper_create(title="再考", questions=demo_bank[:3], created_by=carol, attempts_allowed=3)
    client = api(alice)
    first = start(client, paper).json()
    client.post(reverse("api-v1-session-finish", args=[first["id"]]))
    with CaptureQueriesContext(connection) as captured:
        second = start(client, paper)
    assert (second.status_code, second.json()["number"]) == (201, 2)
    reads = [query["sql"] for query in captured if query["sql"].lstrip().startswith("SELECT")]
    assert sum('FROM "quizbank_quizsession"' in sql for sql in reads) == 1
    resumed = start(client, paper)
    assert (resumed.status_code, resumed.json()["id"]) == (200, second.json()["id"])
    client.post(reverse("api-v1-session-finish", args=[second.json()["id"]]))
    third = start(client, paper)
    assert (third.status_code, third.json()["number"]) == (201, 3)
    client.post(reverse("api-v1-session-finish", args=[third.json()["id"]]))
    refused = start(client, paper)
    assert (refused.status_code, refused.json()["extra"]["code"]) == (409, "no_attempts")
