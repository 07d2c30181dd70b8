"""The bank's explanation job: it waits for a model server that serves the promoted version, the sweep
explains what is still missing, and the model page shows how far each version has got."""

from __future__ import annotations

import pytest
from celery.exceptions import Retry
from django.urls import reverse

from inference.engines.base import ChatResult, ModelServerError
from inference.explanations import VersionNotServed, bank_explain_missing, bank_explain_when_served
from inference.tasks import explain_bank
from quizbank.models import QuestionExplanation, QuestionType
from quizbank.selectors.explanations import explainable_questions, explanation_progress
from tuning.models import ModelVersion, VersionState

pytestmark = pytest.mark.django_db


class FakeServer:
    """An engine whose server is down, or up and serving some versions; it explains every question."""

    def __init__(self, *, up: bool = True, serves: tuple[str, ...] = ("quizsite", "ft-3")):
        self.up = up
        self.serves = serves
        self.asked = 0

    def health(self) -> dict[str, bool]:
        return {"http://model": self.up}

    def served_models(self) -> list[str]:
        if not self.up:
            raise ModelServerError("the model server is not available")
        return list(self.serves)

    def chat_many(self, requests_: list[dict], *, concurrency: int = 8) -> list:
        self.asked += len(requests_)
        if not self.up:
            return [ModelServerError("the model server is not available") for _ in requests_]
        version = self.serves[-1]
        return [ChatResult(text="答案：A\n解析：模型的解析。", model=version, finish_reason="stop") for _ in requests_]


def active(name: str) -> ModelVersion:
    ModelVersion.objects.filter(is_active=True).update(is_active=False)
    return ModelVersion.objects.create(
        name=name, path="/models/x", method="full", state=VersionState.EVALUATED, is_active=True
    )


def only_current(count: int) -> list[int]:
    """Keep `count` explainable questions of the bank current (a short test), their ids."""
    keep = list(explainable_questions().order_by("pk").values_list("pk", flat=True)[:count])
    explainable_questions().exclude(pk__in=keep).update(is_current=False)
    return keep


def test_the_job_waits_for_a_server_that_serves_the_version_then_explains(demo_bank):
    active("ft-3")
    only_current(5)
    server = FakeServer(up=False)
    with pytest.raises(VersionNotServed):
        bank_explain_when_served(version_name="ft-3", client=server)
    server.up, server.serves = True, ("quizsite", "ft-2")  # still serving the version before
    with pytest.raises(VersionNotServed):
        bank_explain_when_served(version_name="ft-3", client=server)
    assert server.asked == 0 and not QuestionExplanation.objects.exists()
    server.serves = ("quizsite", "ft-3")
    assert bank_explain_when_served(version_name="ft-3", client=server).done == 5
    progress = explanation_progress(version_names=["ft-3"])["ft-3"]
    assert (progress.explained, progress.failed, progress.total) == (5, 0, 5)


def test_the_job_of_a_version_no_longer_active_asks_nothing(demo_bank):
    active("ft-4")
    server = FakeServer(serves=("quizsite", "ft-3"))
    assert bank_explain_when_served(version_name="ft-3", client=server) is None
    assert server.asked == 0


def test_the_task_comes_back_later_while_no_server_serves_the_version(demo_bank, monkeypatch, settings):
    from inference import explanations

    active("ft-3")
    only_current(3)
    server = FakeServer(up=False)
    monkeypatch.setattr(explanations, "get_engine", lambda: server)
    retries = []

    def retry(*, exc, countdown, max_retries):
        retries.append((countdown, max_retries))
        raise Retry(exc=exc)

    monkeypatch.setattr(explain_bank, "retry", retry)
    with pytest.raises(Retry):
        explain_bank.run("ft-3")
    assert retries == [
        (settings.EXPLAIN_RETRY_SECONDS, settings.EXPLAIN_WAIT_SECONDS // settings.EXPLAIN_RETRY_SECONDS)
    ]
    server.up = True  # the server has started: the task's next try explains
    explain_bank.run("ft-3")
    assert QuestionExplanation.objects.exclude(text="").count() == 3 and len(retries) == 1


def test_the_sweep_explains_what_failed_or_is_missing_when_the_server_serves_the_version(demo_bank):
    active("ft-3")
    first, second, *rest = only_current(6)
    QuestionExplanation.objects.create(question_id=first, model_version="ft-3", text="已有的解析。")
    QuestionExplanation.objects.create(question_id=second, model_version="ft-3", text="")  # failed before
    assert explanation_progress(version_names=["ft-3"])["ft-3"].failed == 1
    server = FakeServer(up=False)
    assert bank_explain_missing(client=server) is None and server.asked == 0
    server.up = True
    done = bank_explain_missing(client=server)
    assert (done.done, done.total, done.failed) == (5, 5, 0)
    assert QuestionExplanation.objects.get(question_id=first).text == "已有的解析。"
    assert QuestionExplanation.objects.get(question_id=second).text == "模型的解析。"
    # nothing missing: nothing asked
    assert bank_explain_missing(client=server) is None and server.asked == 5


def test_the_demo_exams_review_shows_the_models_explanations(client, settings, django_user_model):
    from quizbank.demo import DEMO_PAPER_TITLE, demo_seed
    from quizbank.models import Paper
    from quizbank.services import session_finish, session_start

    demo_seed(password="demo-pass-123")
    active("ft-3")
    bank_explain_when_served(version_name="ft-3", client=FakeServer())
    student = django_user_model.objects.get(username="student1")
    paper = Paper.objects.get(title=DEMO_PAPER_TITLE)
    session = session_start(user=student, paper=paper)
    session_finish(user=student, session_id=session.pk)
    explained = paper.items.exclude(
        question__qtype__in=[QuestionType.DESCRIPTION, QuestionType.CLOZE, QuestionType.ESSAY]
    ).count()
    settings.INFERENCE_URLS = ["http://127.0.0.1:9"]  # no model answers the review
    client.force_login(student)
    page = client.get(reverse("session-review", args=[session.pk])).content.decode()
    assert explained >= 6 and page.count("AI 生成 · ft-3") >= explained


def test_the_model_page_shows_how_far_each_version_has_explained_the_bank(client, dave, demo_bank):
    active("ft-3")
    first, second, *_ = only_current(4)
    QuestionExplanation.objects.create(question_id=first, model_version="ft-3", text="解析。")
    QuestionExplanation.objects.create(question_id=second, model_version="ft-3", text="")
    client.force_login(dave)
    page = client.get(reverse("tuning-index")).content.decode()
    assert "1/4" in page


# --- on the real tiny model -------------------------------------------------------------------


@pytest.mark.slow
def test_a_job_started_before_the_server_is_up_explains_once_it_serves(vllm_server, demo_bank, monkeypatch, settings):
    from inference.engines import reset_engine
    from tests.conftest import _free_port

    active(vllm_server.version_name)
    only_current(6)
    settings.INFERENCE_URLS = [f"http://127.0.0.1:{_free_port()}"]  # the server is not up yet
    reset_engine()
    monkeypatch.setattr(explain_bank, "retry", lambda *, exc, countdown, max_retries: Retry(exc=exc))
    with pytest.raises(Retry):
        explain_bank.run(vllm_server.version_name)
    assert not QuestionExplanation.objects.exists()
    settings.INFERENCE_URLS = [vllm_server.url]  # up now, when the task comes back
    reset_engine()
    try:
        explain_bank.run(vllm_server.version_name)
    finally:
        reset_engine()
    progress = explanation_progress(version_names=[vllm_server.version_name])[vllm_server.version_name]
    assert (progress.explained, progress.total) == (6, 6)


@pytest.mark.slow
def test_the_sweep_fills_in_the_missing_explanations_with_the_served_model(served, demo_bank):
    active(served.version_name)
    first, *rest = only_current(5)
    QuestionExplanation.objects.create(question_id=first, model_version=served.version_name, text="")
    done = bank_explain_missing()
    assert (done.done, done.total) == (5, 5)
    assert (
        not explainable_questions()
        .exclude(model_explanations__model_version=served.version_name, model_explanations__text__gt="")
        .exists()
    )
    assert bank_explain_missing() is None
