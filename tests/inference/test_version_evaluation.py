"""The checks a newly trained version goes through: tuning announces it, inference scores it on the
evaluation suites (with the version in process), and the active version on the same items, marks it
evaluated and promotes it when its run asked for that and the gate finds no regression. A failed
evaluation loses nothing and promotes nothing.

The versions here answer as scripted (the orchestration is under test); test_evaluation_suites.py
scores real models."""

import pytest
from django.core.management import CommandError, call_command

from inference import evaluation, tasks
from inference.engines.base import ChatResult
from inference.evaluation import version_evaluate
from inference.evaluation.suites import answer_items
from inference.explanations import question_chat_request
from inference.models import EvalRun
from quizbank.models import Question
from tests.tuning.test_grading_agreement import essay_in_split, grade, teacher_graded
from tuning.metrics import quadratic_weighted_kappa
from tuning.models import ModelVersion, RunEvent, RunStatus, VersionState
from tuning.services import run_create, run_execute, version_promote

pytestmark = pytest.mark.django_db


@pytest.fixture
def held_out(alice, carol):
    """Three teacher-graded answers of the test split (of 10: 9, 2, 6)."""
    question = essay_in_split("test")
    return [teacher_graded(alice, carol, question, f"留出答案 {index}", score) for index, score in enumerate([9, 2, 6])]


class ScriptedVersion:
    """A version that answers every question right (or wrong) and grades the held-out answers as scripted,
    in order, answering under its own name."""

    def __init__(self, name: str, *, grades: list[int], right: bool = True):
        self.model = name
        self.grades = [grade(points) for points in grades]
        keys = {
            str(question_chat_request(item["question"], max_tokens=1)["messages"]): item["key"]
            for item in answer_items(Question.objects.select_related("subject"))
        }
        self.keys, self.right = keys, right

    def chat_many(self, requests_, *, concurrency=8):
        results = []
        for request in requests_:
            if "json_schema" in request:
                text = self.grades.pop(0)
            else:
                key = self.keys[str(request["messages"])]
                text = f"答案：{key if self.right else 'Z'}\n解析：略"
            results.append(ChatResult(text=text, model=self.model, finish_reason="stop", completion_tokens=5))
        return results

    def served_models(self):
        return [self.model]


@pytest.fixture
def grader(monkeypatch):
    """Versions 'loaded in process': base grades 9, 2, 6 (as the teachers), a new version 9, 4, 6; the
    models asked for are kept."""
    loaded = []

    def local_engine(model_dir, name):
        loaded.append((str(model_dir), name))
        return ScriptedVersion(name, grades=[9, 2, 6] if name == "base" else [9, 4, 6], right=name != "worse")

    monkeypatch.setattr(evaluation, "local_engine", local_engine)
    return loaded


@pytest.fixture
def queued(monkeypatch):
    """The evaluation task as a worker would run it, when it is queued."""
    sent = []

    def delay(*args):
        sent.append(args)
        tasks.evaluate_version.apply(args=args)

    monkeypatch.setattr(tasks.evaluate_version, "delay", delay)
    return sent


def _trained_run(*, promote: bool, inline: bool, capture):
    run = run_create(method="lora", split="all", promote=promote, enqueue=False)
    with capture(execute=True):
        run = run_execute(run_id=run.pk, inline=inline)
    run.refresh_from_db()
    return run


def test_the_version_trained_event_leads_to_an_evaluated_version_with_grading_metrics(
    demo_bank, base_version, fake_training, held_out, grader, queued, django_capture_on_commit_callbacks
):
    run = _trained_run(promote=True, inline=False, capture=django_capture_on_commit_callbacks)
    version = run.output_version
    assert queued == [(version.pk, True)]  # a task, on the worker's side
    # the new version itself and the active one, both in process
    assert sorted(name for _, name in grader) == ["base", version.name]
    assert version.state == VersionState.EVALUATED
    grading = EvalRun.objects.get(version=version, suite__name="grading-heldout").metrics
    expected = quadratic_weighted_kappa([9, 2, 6], [9, 4, 6], min_score=0, max_score=10)
    assert grading["graded"] == 3 and grading["grading_qwk"] == pytest.approx(expected, abs=1e-4)
    assert grading["grading_exact_agreement"] == grading["grading_mae"] == round(2 / 3, 4)
    suites = version.metrics["suites"]
    assert suites["grading-heldout"]["grading_qwk"] == grading["grading_qwk"]
    assert suites["bank-heldout"]["answer_accuracy"] == suites["bank-trained"]["answer_accuracy"] == 1.0
    assert version.metrics["eval"] == {"answer_accuracy": 0.5}  # what training measured stays
    assert run.metrics["suites"] == suites and run.status == RunStatus.SUCCEEDED
    assert version.is_active and not ModelVersion.objects.get(name="base").is_active  # the run asked to promote
    messages = list(run.events.values_list("message", flat=True))
    assert f"evaluating {version.name}" in messages
    assert any(message.startswith("scored on grading-heldout: n=3, QWK") for message in messages)
    assert messages[-2:] == [
        f"evaluated: {version.name} may be promoted",
        f"promoted: {version.name} is the active version",
    ]


def test_inline_the_version_is_evaluated_and_promoted_before_run_execute_returns(
    demo_bank, base_version, fake_training, held_out, grader, monkeypatch, django_capture_on_commit_callbacks
):
    def no_broker(*args):
        raise AssertionError("inline evaluation is not queued")

    monkeypatch.setattr(tasks.evaluate_version, "delay", no_broker)
    run = _trained_run(promote=True, inline=True, capture=django_capture_on_commit_callbacks)
    assert run.output_version.state == VersionState.EVALUATED and run.output_version.is_active
    assert run.output_version.metrics["suites"]["grading-heldout"]["n"] == 3


def test_without_promote_the_evaluated_version_waits_for_an_admin(
    demo_bank, base_version, fake_training, grader, queued, django_capture_on_commit_callbacks
):
    run = _trained_run(promote=False, inline=False, capture=django_capture_on_commit_callbacks)
    version = run.output_version
    assert version.state == VersionState.EVALUATED and not version.is_active
    assert "grading-heldout" not in version.metrics["suites"]  # no teacher grades held out: no such suite
    assert version_promote(version=version).is_active


def test_an_evaluation_failure_leaves_the_version_failed_and_not_promoted(
    demo_bank, base_version, fake_training, held_out, queued, monkeypatch, django_capture_on_commit_callbacks
):
    def out_of_memory(model_dir, name):
        raise RuntimeError("CUDA out of memory")

    monkeypatch.setattr(evaluation, "local_engine", out_of_memory)
    run = _trained_run(promote=True, inline=False, capture=django_capture_on_commit_callbacks)
    version = run.output_version
    assert run.status == RunStatus.SUCCEEDED and version.path  # the trained version is kept
    assert version.state == VersionState.EVALUATION_FAILED and not version.is_active
    assert ModelVersion.objects.get(is_active=True).name == "base"
    failed = run.events.get(level=RunEvent.Level.ERROR)
    assert failed.message == "evaluation failed: RuntimeError: CUDA out of memory"
    assert version_evaluate(version_id=version.pk, promote=True) is None  # a redelivered task does nothing

    # an admin tries again once the GPU is free
    monkeypatch.setattr(evaluation, "local_engine", lambda model_dir, name: ScriptedVersion(name, grades=[9, 2, 6]))
    call_command("evaluate", "--new-version", version.name, "--promote")
    version.refresh_from_db()
    assert version.state == VersionState.EVALUATED and version.is_active
    assert version.metrics["suites"]["grading-heldout"]["grading_qwk"] == 1.0
    with pytest.raises(CommandError, match="already evaluated"):
        call_command("evaluate", "--new-version", version.name)


def test_a_version_worse_than_the_active_one_is_evaluated_but_not_promoted(
    demo_bank, base_version, fake_training, queued, monkeypatch, django_capture_on_commit_callbacks
):
    def local_engine(model_dir, name):  # the new version answers every question wrong
        return ScriptedVersion(name, grades=[], right=name == "base")

    monkeypatch.setattr(evaluation, "local_engine", local_engine)
    run = _trained_run(promote=True, inline=False, capture=django_capture_on_commit_callbacks)
    version = run.output_version
    assert version.state == VersionState.EVALUATED and not version.is_active
    warning = run.events.get(level=RunEvent.Level.WARN)
    assert warning.message.startswith(f"not promoted: {version.name} is worse than the active base")
    assert "on suite bank-trained@1, answer_accuracy falls from 1.000 to 0.000" in warning.message
    assert "mcnemar-exact, p=" in warning.message


def test_a_broker_that_is_down_leaves_the_version_trained(
    demo_bank, base_version, fake_training, monkeypatch, django_capture_on_commit_callbacks
):
    def broker_down(*args):
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(tasks.evaluate_version, "delay", broker_down)
    run = _trained_run(promote=True, inline=False, capture=django_capture_on_commit_callbacks)
    assert run.status == RunStatus.SUCCEEDED and run.output_version.state == VersionState.TRAINED
