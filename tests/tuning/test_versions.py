"""Model version states: a run's version is registered trained and announced; promotion waits for
its evaluation (done by inference), unless forced."""

import pytest
from django.core.management import CommandError, call_command

from core.exceptions import ApplicationError
from tuning.models import ModelVersion, PromotionAction, PromotionLog, RunEvent, RunStatus, VersionState
from tuning.services import (
    run_create,
    run_execute,
    version_evaluation_fail,
    version_evaluation_finish,
    version_evaluation_start,
    version_promote,
    version_register,
)
from tuning.signals import version_trained

pytestmark = pytest.mark.django_db


@pytest.fixture
def announced():
    """What tuning announces about trained versions, with inference (which would evaluate them) not listening."""
    from inference.receivers import evaluate_new_version

    sent = []

    def collect(sender, **kwargs):
        sent.append(kwargs)

    version_trained.disconnect(dispatch_uid="inference-evaluate-version")
    version_trained.connect(collect, dispatch_uid="test-collect")
    try:
        yield sent
    finally:
        version_trained.disconnect(dispatch_uid="test-collect")
        version_trained.connect(evaluate_new_version, dispatch_uid="inference-evaluate-version")


def test_a_hand_registered_version_is_evaluated_and_a_new_row_is_trained(base_version, tiny_base_model):
    assert base_version.state == VersionState.EVALUATED and base_version.promotable and base_version.is_active
    row = ModelVersion.objects.create(name="made-elsewhere", path=str(tiny_base_model), method="lora")
    assert row.state == VersionState.TRAINED and not row.promotable


def test_a_trained_version_is_not_promoted_before_it_is_evaluated_unless_forced(base_version, tiny_base_model):
    trained = version_register(name="ft-1", path=tiny_base_model, method="lora", state=VersionState.TRAINED)
    with pytest.raises(ApplicationError, match="ft-1 is not evaluated yet") as refused:
        version_promote(version=trained)
    assert refused.value.extra == {"version": "ft-1", "state": "trained"}
    assert version_evaluation_start(version_id=trained.pk).state == VersionState.EVALUATING
    with pytest.raises(ApplicationError, match="not evaluated yet"):
        version_promote(version=trained)
    version_evaluation_fail(version=trained, error="RuntimeError: out of memory")
    with pytest.raises(ApplicationError, match="evaluation failed"):
        version_promote(version=trained)
    base_version.refresh_from_db()
    assert base_version.is_active
    with pytest.raises(ApplicationError, match="needs a reason"):
        version_promote(version=trained, force=True)
    assert version_promote(version=trained, force=True, reason="checked by hand").is_active  # an admin may, knowingly


@pytest.fixture
def regression_gate():
    """A promotion gate (as inference registers one) that finds the candidate worse on one suite."""
    from tuning import gates

    def gate(candidate, active):
        if candidate.name != "ft-2":
            return []
        return [gates.Refusal("bank-heldout@1", "answer_accuracy", 0.5, 0.9, 0.0021, 40, "mcnemar-exact")]

    gates.register("test-regression", gate)
    yield
    gates._gates.pop("test-regression")


def test_an_evaluated_version_is_promotable_and_the_gate_refusal_is_logged(
    base_version, tiny_base_model, regression_gate, dave
):
    good = version_register(name="good", path=tiny_base_model, method="full")
    version_promote(version=good)
    worse = version_register(name="ft-2", path=tiny_base_model, method="lora", state="trained")
    claimed = version_evaluation_start(version_id=worse.pk)
    assert version_evaluation_start(version_id=worse.pk) is None  # claimed once
    summary = {"bank-heldout": {"n": 40, "answer_accuracy": 0.5}}
    evaluated = version_evaluation_finish(version=claimed, metrics={"suites": summary})
    assert evaluated.state == VersionState.EVALUATED and evaluated.metrics == {"suites": summary}
    with pytest.raises(ApplicationError, match=r"worse than the active good: on suite bank-heldout@1.*p=0.0021"):
        version_promote(version=evaluated, actor=dave)
    refused = PromotionLog.objects.get(action=PromotionAction.REFUSED)
    assert (refused.from_version, refused.to_version, refused.actor) == ("good", "ft-2", dave)
    assert refused.details["refusals"][0]["p_value"] == 0.0021 and "bank-heldout@1" in refused.reason
    assert version_promote(version=evaluated, force=True, reason="the new bank matters more").is_active
    forced = PromotionLog.objects.get(action=PromotionAction.FORCED)
    assert forced.reason == "the new bank matters more" and forced.details["overridden"][0]["suite"] == "bank-heldout@1"
    version_promote(version=good)  # back to the earlier version: a rollback, logged as one
    assert PromotionLog.objects.get(action=PromotionAction.ROLLBACK).to_version == "good"


def test_a_run_registers_its_version_trained_and_announces_it_after_commit(
    demo_bank, base_version, fake_training, announced, django_capture_on_commit_callbacks
):
    run = run_create(method="lora", split="all", promote=True, enqueue=False)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        run = run_execute(run_id=run.pk)
    assert announced == []  # not before the version is committed
    assert run.status == RunStatus.SUCCEEDED and run.metrics["eval"] == {"answer_accuracy": 0.5}
    version = run.output_version
    assert version.state == VersionState.TRAINED and not version.is_active  # promotion waits for evaluation
    assert "grading" not in version.metrics  # tuning measures no grading: inference does
    for callback in callbacks:
        callback()
    assert announced == [
        {
            "signal": version_trained,
            "version_id": version.pk,
            "version_name": version.name,
            "promote": True,
            "inline": False,
        }
    ]
    assert not run.events.filter(level=RunEvent.Level.WARN).exists()


def test_tune_inline_announces_the_version_to_be_evaluated_in_process(
    demo_bank, base_version, fake_training, announced, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        call_command("tune", "--method", "lora", "--split", "all", "--inline")
    assert [(sent["promote"], sent["inline"]) for sent in announced] == [(False, True)]


def test_the_promote_command_lists_states_and_refuses_a_version_not_evaluated(base_version, tiny_base_model, capsys):
    version_register(name="ft-3", path=tiny_base_model, method="lora", state=VersionState.TRAINED)
    call_command("promote")
    listing = capsys.readouterr().out
    assert "* base" in listing and "evaluated" in listing and "ft-3" in listing and "trained" in listing
    with pytest.raises(CommandError, match="ft-3 is not evaluated yet"):
        call_command("promote", "ft-3")
    with pytest.raises(CommandError, match="needs a reason"):
        call_command("promote", "ft-3", "--force")
    call_command("promote", "ft-3", "--force", "--reason", "an urgent fix")
    assert "ft-3 is now the active version (forced: an urgent fix)" in capsys.readouterr().out
