"""Tuning runs through the services, the management command and a real Celery worker."""

import time

import pytest
from django.core.management import call_command

from core.exceptions import ApplicationError
from tuning.models import ModelVersion, RunStatus, TuningRun, VersionState
from tuning.services import run_cancel, run_claim, run_create, run_execute, version_register

FAST = {"num_train_epochs": 1.0}


@pytest.fixture
def base_version(db, tiny_base_model):
    return version_register(name="base", path=tiny_base_model, method="bootstrap")


def test_run_create_snapshots_the_bank_and_validates_the_config(demo_bank, base_version):
    run = run_create(method="lora", split="all", enqueue=False)
    assert run.status == RunStatus.QUEUED
    assert run.dataset_size == 100
    assert run.config["finetuning_type"] == "lora" and run.config["lora_alpha"] % run.config["lora_rank"] == 0
    with pytest.raises(ApplicationError, match="integer multiple"):
        run_create(method="lora", overrides={"lora_rank": 8, "lora_alpha": 10}, enqueue=False)
    with pytest.raises(ApplicationError, match="unknown setting"):
        run_create(method="lora", overrides={"lora_rnak": 8}, enqueue=False)


def test_a_run_is_claimed_once(demo_bank, base_version):
    run = run_create(method="lora", enqueue=False)
    assert run_claim(run_id=run.pk) is True
    assert run_claim(run_id=run.pk) is False  # a redelivered message does not start it twice
    assert run_execute(run_id=run.pk).status == RunStatus.RUNNING  # the second delivery does nothing


def test_cancel_a_queued_run(demo_bank, base_version):
    run = run_cancel(run=run_create(method="lora", enqueue=False))
    assert run.status == RunStatus.CANCELLED
    with pytest.raises(ApplicationError, match="already ended"):
        run_cancel(run=run)


@pytest.mark.slow
def test_tune_inline_trains_merges_and_promotes(demo_bank, base_version, capsys, django_capture_on_commit_callbacks):
    # the test's transaction never commits: run what the command's commits would start (the new
    # version's evaluation, in process when inline, then its promotion)
    with django_capture_on_commit_callbacks(execute=True):
        call_command(
            "tune", "--method", "lora", "--split", "all", "--inline", "--promote", "--set", "num_train_epochs=1"
        )
    run = TuningRun.objects.get()
    assert run.status == RunStatus.SUCCEEDED, run.error
    version = run.output_version
    assert version.is_active and version.parent == base_version and version.method == "lora"
    assert ModelVersion.objects.filter(is_active=True).count() == 1
    assert run.events.filter(message__startswith="succeeded").exists()
    assert "succeeded: version ft-" in capsys.readouterr().out
    assert version.state == VersionState.EVALUATED


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_queued_run_is_trained_by_a_celery_worker_over_the_broker(demo_bank, tiny_base_model):
    from celery.contrib.testing.worker import start_worker

    from quizsite.celery import app

    version_register(name="base", path=tiny_base_model, method="bootstrap")
    with start_worker(app, pool="solo", queues=["tuning"], perform_ping_check=False, shutdown_timeout=30):
        run = run_create(method="lora", overrides=FAST)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            run.refresh_from_db()
            # the new version's evaluation is queued on the same `tuning` queue, for the same worker
            waiting = (VersionState.TRAINED, VersionState.EVALUATING)
            if run.status == RunStatus.FAILED or (run.output_version and run.output_version.state not in waiting):
                break
            time.sleep(0.5)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.output_version is not None and run.progress == 1.0
    assert run.output_version.state == VersionState.EVALUATED


def test_tune_resume_names_a_missing_run(db):
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="no run 999"):
        call_command("tune", "--resume", "999", "--inline")


def test_a_run_the_broker_refused_stays_queued_and_is_sent_by_the_recovery_sweep(
    demo_bank, base_version, monkeypatch, django_capture_on_commit_callbacks
):
    from tuning.services import NOT_QUEUED, runs_recover_stale
    from tuning.tasks import run_tuning

    sent = []

    def broker_down(run_id):
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(run_tuning, "delay", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        run = run_create(method="lora", overrides=FAST)
    run.refresh_from_db()
    assert run.status == RunStatus.QUEUED and run.events.last().message == NOT_QUEUED
    assert runs_recover_stale() == []  # still down: still queued, nothing lost
    monkeypatch.setattr(run_tuning, "delay", sent.append)
    assert runs_recover_stale() == [run.pk] and sent == [run.pk]
    assert runs_recover_stale() == []  # sent once
