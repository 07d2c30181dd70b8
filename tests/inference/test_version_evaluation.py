"""The checks a newly trained version goes through: tuning announces it, inference evaluates it
(grading agreement on the held-out teacher grades, with the version in process), marks it evaluated
and promotes it when its run asked for that. A failed evaluation loses nothing and promotes nothing."""

import pytest
from django.core.management import CommandError, call_command

from inference import evaluation, tasks
from inference.evaluation import version_evaluate
from tests.tuning.test_grading_agreement import FixedGrader, essay_in_split, grade, teacher_graded
from tuning.metrics import quadratic_weighted_kappa
from tuning.models import ModelVersion, RunEvent, RunStatus, VersionState
from tuning.services import run_create, run_execute, version_promote, version_register

pytestmark = pytest.mark.django_db


@pytest.fixture
def held_out(alice, carol):
    """Three teacher-graded answers of the test split (of 10: 9, 2, 6)."""
    question = essay_in_split("test")
    return [teacher_graded(alice, carol, question, f"留出答案 {index}", score) for index, score in enumerate([9, 2, 6])]


@pytest.fixture
def grader(monkeypatch):
    """The version 'loaded in process' grades 9, 4, 6; the models it was asked to load are kept."""
    loaded = []

    def local_engine(model_dir, name):
        loaded.append((str(model_dir), name))
        return FixedGrader([grade(9), grade(4), grade(6)])

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
    assert grader == [(version.path, version.name)]  # the new version itself, in process
    assert version.state == VersionState.EVALUATED
    grading = version.metrics["grading"]
    expected = quadratic_weighted_kappa([9, 2, 6], [9, 4, 6], min_score=0, max_score=10)
    assert grading["n"] == 3 and grading["qwk"] == pytest.approx(expected, abs=1e-4)
    assert grading["exact_agreement"] == grading["mean_abs_error"] == round(2 / 3, 4)
    assert version.metrics["eval"] == {"answer_accuracy": 0.5}  # what training measured stays
    assert run.metrics["grading"] == grading and run.status == RunStatus.SUCCEEDED
    assert version.is_active and not ModelVersion.objects.get(name="base").is_active  # the run asked to promote
    messages = list(run.events.values_list("message", flat=True))
    assert f"evaluating {version.name}" in messages
    assert any(message.startswith("grading agreement on 3 held-out answers: QWK") for message in messages)
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
    assert run.output_version.metrics["grading"]["n"] == 3


def test_without_promote_the_evaluated_version_waits_for_an_admin(
    demo_bank, base_version, fake_training, grader, queued, django_capture_on_commit_callbacks
):
    run = _trained_run(promote=False, inline=False, capture=django_capture_on_commit_callbacks)
    version = run.output_version
    assert version.state == VersionState.EVALUATED and not version.is_active
    assert version.metrics["grading"] == {"n": 0} and grader == []  # nothing held out: the model is not loaded
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
    monkeypatch.setattr(evaluation, "local_engine", lambda model_dir, name: FixedGrader([grade(9), grade(2), grade(6)]))
    call_command("evaluate", "--new-version", version.name, "--promote")
    version.refresh_from_db()
    assert version.state == VersionState.EVALUATED and version.is_active and version.metrics["grading"]["qwk"] == 1.0
    with pytest.raises(CommandError, match="already evaluated"):
        call_command("evaluate", "--new-version", version.name)


def test_a_version_worse_than_the_active_one_is_evaluated_but_not_promoted(
    demo_bank, base_version, tiny_base_model, fake_training, grader, queued, django_capture_on_commit_callbacks
):
    better = version_register(
        name="better", path=tiny_base_model, method="full", metrics={"eval": {"answer_accuracy": 0.9}}
    )
    version_promote(version=better)
    run = _trained_run(promote=True, inline=False, capture=django_capture_on_commit_callbacks)
    assert run.output_version.state == VersionState.EVALUATED and not run.output_version.is_active
    warning = run.events.get(level=RunEvent.Level.WARN)
    assert warning.message.startswith("not promoted:") and "worse than the active better" in warning.message


def test_a_broker_that_is_down_leaves_the_version_trained(
    demo_bank, base_version, fake_training, monkeypatch, django_capture_on_commit_callbacks
):
    def broker_down(*args):
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(tasks.evaluate_version, "delay", broker_down)
    run = _trained_run(promote=True, inline=False, capture=django_capture_on_commit_callbacks)
    assert run.status == RunStatus.SUCCEEDED and run.output_version.state == VersionState.TRAINED
