"""Explanations: the bank explained once per model version, and a wrong answer explained on request,
streamed as server-sent events and then kept on the answer."""

from __future__ import annotations

import http.server
import json
import threading

import pytest
from django.urls import reverse

from inference.engines.base import ChatResult, ModelServerError
from inference.engines.http import HttpEngine
from inference.explanations import bank_explain, bank_explain_progress
from quizbank import prompts
from quizbank.models import Answer, Question, QuestionExplanation
from quizbank.services import answer_submit, paper_create, session_answer_save, session_finish, session_start

pytestmark = pytest.mark.django_db

REVIEW_NOW = {
    "review_score": "immediately",
    "review_correctness": "immediately",
    "review_answer": "immediately",
    "review_explanation": "immediately",
}


class FakeClient:
    """Answers every chat at once like the trained model would; `failing` question stems fail."""

    def __init__(self, failing: set[str] = frozenset(), model: str = "ft-3"):
        self.failing = failing
        self.model = model
        self.batches: list[int] = []

    def chat_many(self, requests_: list[dict], *, concurrency: int = 8) -> list:
        self.batches.append(len(requests_))
        assert concurrency >= len(requests_)  # the whole batch in flight at once
        results = []
        for request in requests_:
            content = request["messages"][-1]["content"]
            if any(stem in content for stem in self.failing):
                results.append(ModelServerError("the model server is not available"))
            else:
                results.append(ChatResult(text="答案：A\n解析：模型的解析。", model=self.model, finish_reason="stop"))
        return results


def events_of(response) -> list[tuple[str, dict]]:
    """The server-sent events of a streamed response as (event name, data)."""
    events = []
    for block in b"".join(response.streaming_content).decode().split("\n\n"):
        if not block.strip():
            continue
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines.get("event", "message"), json.loads(lines["data"])))
    return events


def streamed_text(events) -> str:
    return "".join(data["text"] for name, data in events if name == "message")


def wrong_key(question) -> str:
    return next(key for key in question.option_keys if key != question.answer)


@pytest.fixture
def reviewed_wrong_answer(alice, demo_bank):
    """alice's wrong answer on a finished exam whose review shows everything at once."""
    paper = paper_create(title="小测", questions=demo_bank[:2], **REVIEW_NOW)
    session = session_start(user=alice, paper=paper)
    question = session.items.get(position=1).question
    session_answer_save(user=alice, session_id=session.pk, position=1, response=wrong_key(question))
    session_finish(user=alice, session_id=session.pk)
    return Answer.objects.get(session=session, item__position=1)


# --- the bank, once per model version ----------------------------------------------------------


def test_bank_explain_stores_every_questions_explanation_in_batches_and_only_once(demo_bank):
    client = FakeClient()
    reports = []
    done = bank_explain(version_name="ft-3", client=client, batch=32, progress=lambda p: reports.append(p.done))
    explainable = Question.objects.filter(is_current=True).exclude(qtype="description").count()
    assert (done.done, done.total, done.failed) == (explainable, explainable, 0)
    assert client.batches == [32, 32, 32, explainable - 96]
    assert reports == [0, 32, 64, 96, explainable]
    row = QuestionExplanation.objects.get(question=demo_bank[0])
    assert (row.model_version, row.text, row.model_answer) == ("ft-3", "模型的解析。", "A")
    assert bank_explain_progress(version_name="ft-3").done == explainable
    # a second run finds nothing missing and asks nothing
    again = bank_explain(version_name="ft-3", client=client)
    assert (again.done, again.total, again.failed) == (0, 0, 0) and len(client.batches) == 4
    # a new version explains the bank again
    assert bank_explain(version_name="ft-4", client=FakeClient(model="ft-4")).done == explainable
    assert QuestionExplanation.objects.count() == 2 * explainable


def test_bank_explain_counts_failures_and_leaves_them_to_the_next_run(demo_bank):
    failing = {demo_bank[1].stem, demo_bank[5].stem}
    first = bank_explain(
        version_name="ft-3", client=FakeClient(failing=failing), question_ids=[q.pk for q in demo_bank[:10]]
    )
    assert (first.done, first.total, first.failed) == (8, 10, 2)
    # a failure is kept without text: counted on the model page, never shown on a review page
    failed = QuestionExplanation.objects.filter(question__in=[demo_bank[1], demo_bank[5]])
    assert list(failed.values_list("text", flat=True)) == ["", ""]
    second = bank_explain(version_name="ft-3", client=FakeClient(), question_ids=[q.pk for q in demo_bank[:10]])
    assert (second.done, second.total, second.failed) == (2, 2, 0)
    assert QuestionExplanation.objects.filter(model_version="ft-3").count() == 10
    assert not QuestionExplanation.objects.filter(text="").exists()


def test_bank_explain_skips_old_versions_of_questions(demo_bank):
    old = demo_bank[0]
    Question.objects.filter(pk=old.pk).update(is_current=False)
    bank_explain(version_name="ft-3", client=FakeClient(), question_ids=[q.pk for q in demo_bank[:3]])
    assert set(QuestionExplanation.objects.values_list("question_id", flat=True)) == {demo_bank[1].pk, demo_bank[2].pk}


def test_the_wrong_answer_prompt_is_the_trained_prompt_plus_the_students_answer(demo_bank):
    from quizbank.prompt_inputs import question_record

    question = demo_bank[0]
    record = question_record(question)
    messages = prompts.wrong_answer_messages(record, response="C")
    trained = prompts.prompt_messages(record)[0]["content"]
    assert len(messages) == 1 and messages[0]["content"].startswith(trained)
    fenced = f"{prompts.WRONG_ANSWER_RESPONSE_LABEL}：\n~~~\nC\n~~~\n正确答案是“{question.answer}”"
    assert fenced in messages[0]["content"]


# --- one wrong answer, streamed ------------------------------------------------------------------


def test_another_students_answer_does_not_exist_for_them(client, bob, reviewed_wrong_answer, no_model_server):
    url = reverse("api-v1-answer-explain-stream", args=[reviewed_wrong_answer.pk])
    client.force_login(bob)
    response = client.get(url)
    assert response.status_code == 404 and response.json()["extra"]["code"] == "not_found"
    client.logout()
    assert client.get(url).status_code == 302  # to the login form


def test_no_explanation_before_the_review_shows_it(client, alice, demo_bank, no_model_server):
    paper = paper_create(title="期中", questions=demo_bank[:2])  # explanations after close; it never closes
    session = session_start(user=alice, paper=paper)
    session_answer_save(
        user=alice, session_id=session.pk, position=1, response=wrong_key(session.items.get(position=1).question)
    )
    answer = Answer.objects.get(session=session)
    client.force_login(alice)
    url = reverse("api-v1-answer-explain-stream", args=[answer.pk])
    assert client.get(url).status_code == 403  # while the attempt is open
    session_finish(user=alice, session_id=session.pk)
    assert client.get(url).status_code == 403  # the paper has not closed


def test_a_right_answer_is_not_explained_as_wrong(client, alice, demo_bank, no_model_server):
    answer = answer_submit(user=alice, question=demo_bank[0], response=demo_bank[0].answer)
    client.force_login(alice)
    response = client.get(reverse("api-v1-answer-explain-stream", args=[answer.pk]))
    assert response.status_code == 409 and response.json()["extra"]["code"] == "not_wrong"


def test_a_kept_explanation_is_sent_at_once_without_the_model(client, alice, reviewed_wrong_answer, no_model_server):
    Answer.objects.filter(pk=reviewed_wrong_answer.pk).update(
        explanation="你把二和三弄反了。", explanation_source="model", model_version="ft-3"
    )
    client.force_login(alice)
    response = client.get(reverse("api-v1-answer-explain-stream", args=[reviewed_wrong_answer.pk]))
    assert response["Content-Type"].startswith("text/event-stream")
    assert response["Cache-Control"] == "no-cache" and response["X-Accel-Buffering"] == "no"
    assert events_of(response) == [
        ("message", {"text": "你把二和三弄反了。"}),
        ("done", {"source": "model", "version": "ft-3"}),
    ]


def test_without_a_model_server_the_bank_explanation_comes_with_a_note(
    client, alice, reviewed_wrong_answer, no_model_server
):
    client.force_login(alice)
    events = events_of(client.get(reverse("api-v1-answer-explain-stream", args=[reviewed_wrong_answer.pk])))
    assert [name for name, _ in events] == ["note", "message", "done"]
    assert events[0][1]["code"] == "model_unavailable"
    assert streamed_text(events) == reviewed_wrong_answer.question.explanation
    assert events[-1][1]["source"] == "bank"
    reviewed_wrong_answer.refresh_from_db()
    assert reviewed_wrong_answer.explanation_source != "model" and reviewed_wrong_answer.explanation == ""


class StreamingOpenAI(http.server.BaseHTTPRequestHandler):
    """A stand-in for vLLM's streamed chat completions: a few chunks, then [DONE]."""

    pieces = ["答案：B\n", "解析：", "你选的", "不对。"]
    asked: list[dict] = []

    def do_GET(self):  # /v1/models
        body = json.dumps({"data": [{"id": "quizsite"}, {"id": "ft-9"}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        StreamingOpenAI.asked.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for piece in self.pieces:
            chunk = {"choices": [{"index": 0, "delta": {"content": piece}}], "model": "quizsite"}
            self.wfile.write(f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n".encode())
            self.wfile.flush()
        self.wfile.write(b"data: [DONE]\n\n")

    def log_message(self, *args):
        pass


@pytest.fixture
def streaming_server(settings):
    from inference.engines import reset_engine

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), StreamingOpenAI)
    StreamingOpenAI.asked = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.INFERENCE_URLS = [f"http://127.0.0.1:{server.server_address[1]}"]
    reset_engine()
    yield server
    server.shutdown()
    reset_engine()


def test_chat_stream_yields_the_pieces_and_names_the_version(streaming_server):
    url = f"http://127.0.0.1:{streaming_server.server_address[1]}"
    stream = HttpEngine(urls=[url], model="quizsite").chat_stream([{"role": "user", "content": "问"}], max_tokens=16)
    assert stream.model == "ft-9" and list(stream) == StreamingOpenAI.pieces
    assert StreamingOpenAI.asked[0]["stream"] is True and StreamingOpenAI.asked[0]["max_tokens"] == 16


def test_the_streamed_explanation_is_kept_on_the_answer(client, alice, demo_bank, streaming_server):
    question = demo_bank[0]
    answer = answer_submit(user=alice, question=question, response=wrong_key(question))  # practice, no session
    client.force_login(alice)
    events = events_of(client.get(reverse("api-v1-answer-explain-stream", args=[answer.pk])))
    assert [name for name, _ in events] == ["message"] * 4 + ["done"]
    assert streamed_text(events) == "".join(StreamingOpenAI.pieces)
    assert events[-1][1] == {"source": "model", "version": "ft-9", "text": "你选的不对。"}
    prompt = StreamingOpenAI.asked[0]["messages"][-1]["content"]
    assert question.stem in prompt and f"：\n~~~\n{wrong_key(question)}\n~~~\n" in prompt
    answer.refresh_from_db()
    assert (answer.explanation, answer.explanation_source, answer.model_version) == ("你选的不对。", "model", "ft-9")
    # asked again, the kept text comes back without the model
    assert len(events_of(client.get(reverse("api-v1-answer-explain-stream", args=[answer.pk])))) == 2
    assert len(StreamingOpenAI.asked) == 1


# --- on the real tiny model -------------------------------------------------------------------


@pytest.mark.slow
def test_the_served_model_explains_the_whole_bank(served, demo_bank):
    done = bank_explain(version_name=served.version_name)
    explainable = Question.objects.filter(is_current=True).exclude(qtype="description")
    assert done.failed == 0 and done.done == done.total == explainable.count()
    assert set(QuestionExplanation.objects.values_list("question_id", flat=True)) == set(
        explainable.values_list("pk", flat=True)
    )
    assert set(QuestionExplanation.objects.values_list("model_version", flat=True)) == {served.version_name}
    assert bank_explain(version_name=served.version_name).total == 0


@pytest.mark.slow
def test_the_served_model_streams_why_an_answer_is_wrong(served, client, alice, reviewed_wrong_answer):
    client.force_login(alice)
    response = client.get(reverse("api-v1-answer-explain-stream", args=[reviewed_wrong_answer.pk]))
    assert response.status_code == 200 and response["Content-Type"].startswith("text/event-stream")
    events = events_of(response)
    # piece by piece as the server sends them (greedy, so the same request streams the same pieces)
    from django.conf import settings

    from inference.engines import get_engine
    from inference.explanations import wrong_answer_request

    pieces = list(
        get_engine().chat_stream(
            **wrong_answer_request(reviewed_wrong_answer, max_tokens=settings.INFERENCE_MAX_TOKENS)
        )
    )
    assert [data["text"] for name, data in events if name == "message"] == pieces and pieces
    assert events[-1][1]["source"] == "model" and events[-1][1]["version"] == served.version_name
    reviewed_wrong_answer.refresh_from_db()
    assert reviewed_wrong_answer.explanation_source == "model"
    assert reviewed_wrong_answer.model_version == served.version_name
    assert reviewed_wrong_answer.explanation == prompts.parse_output(streamed_text(events)).explanation
    page = client.get(reverse("session-review", args=[reviewed_wrong_answer.session_id])).content.decode()
    assert f"AI 生成 · {served.version_name}" in page


@pytest.mark.slow
def test_the_banks_explanation_by_the_served_model_shows_on_review_without_a_model_call(
    served, client, alice, reviewed_wrong_answer, settings
):
    from django.utils.html import escape

    from inference.engines import reset_engine
    from tests.conftest import _free_port

    question = reviewed_wrong_answer.question
    assert bank_explain(version_name=served.version_name, question_ids=[question.pk]).done == 1
    stored = QuestionExplanation.objects.get(question=question, model_version=served.version_name)
    assert stored.text
    settings.INFERENCE_URLS = [f"http://127.0.0.1:{_free_port()}"]  # from here on no model answers
    reset_engine()
    client.force_login(alice)
    page = client.get(reverse("session-review", args=[reviewed_wrong_answer.session_id])).content.decode()
    assert escape(stored.text) in page
    assert f"AI 生成 · {served.version_name}" in page


@pytest.mark.slow
def test_the_explain_bank_command_explains_what_is_missing_with_a_bar_on_a_terminal(served, demo_bank):
    import io
    import re

    from django.core.management import call_command

    from tests.core.test_progress import terminal

    first = [q.pk for q in demo_bank if q.qtype != "description"][:4]
    Question.objects.exclude(pk__in=first).update(is_current=False)  # four questions keep the run short
    out = io.StringIO()
    with terminal() as (stream, read):
        call_command("explain_bank", "--version", served.version_name, stdout=out, stderr=stream)
        shown = read()
    assert re.search(r"explaining: 100%.* 4/4 ", shown), shown
    assert f"{served.version_name}: 4 of 4 questions explained" in out.getvalue()
    assert QuestionExplanation.objects.filter(model_version=served.version_name).exclude(text="").count() == 4
    again = io.StringIO()
    call_command("explain_bank", "--version", served.version_name, "--json", stdout=again)
    assert json.loads(again.getvalue().splitlines()[-1]) == {
        "version": served.version_name,
        "explained": 0,
        "failed": 0,
        "total": 0,
    }


def test_the_explain_bank_command_says_when_no_server_serves_the_version(no_model_server, demo_bank):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no model server serves ft-9"):
        call_command("explain_bank", "--version", "ft-9")
