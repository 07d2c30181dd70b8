"""The tuning API (OpenAI fine-tuning shapes) and pages, for admins only."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from tuning.models import RunStatus, TuningRun
from tuning.services import run_execute, version_register

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_api(dave):
    client = APIClient()
    client.force_authenticate(dave)
    return client


@pytest.fixture
def base(db, tiny_base_model):
    return version_register(name="base", path=tiny_base_model, method="bootstrap")


def test_students_cannot_tune(alice, base):
    client = APIClient()
    client.force_authenticate(alice)
    assert client.get(reverse("api-v1-tuning-runs")).status_code == 403
    assert client.post(reverse("api-v1-tuning-runs"), {"method": "lora"}, format="json").status_code == 403


def test_create_list_cancel_a_run(admin_api, demo_bank, base):
    created = admin_api.post(
        reverse("api-v1-tuning-runs"),
        {"method": "lora", "hyperparameters": {"lora_rank": 16, "lora_alpha": 32}},
        format="json",
    )
    assert created.status_code == 201, created.json()
    job = created.json()
    assert job["object"] == "fine_tuning.job" and job["id"].startswith("ftjob-") and job["status"] == "queued"
    assert job["model"] == "base" and job["hyperparameters"]["lora_rank"] == 16
    listed = admin_api.get(reverse("api-v1-tuning-runs")).json()
    assert listed["object"] == "list" and listed["data"][0]["id"] == job["id"]
    events = admin_api.get(reverse("api-v1-tuning-run-events", args=[job["id"]])).json()["data"]
    assert any(event["message"].startswith("dataset valid:") for event in events)
    cancelled = admin_api.post(reverse("api-v1-tuning-run-cancel", args=[job["id"]])).json()
    assert cancelled["status"] == "cancelled"


def test_bad_hyperparameters_are_refused_with_the_advice(admin_api, demo_bank, base):
    response = admin_api.post(
        reverse("api-v1-tuning-runs"),
        {"method": "lora", "hyperparameters": {"lora_rank": 8, "lora_alpha": 12}},
        format="json",
    )
    assert response.status_code == 400 and "rank 8 → alpha 16" in response.json()["message"]
    assert TuningRun.objects.count() == 0


@pytest.mark.slow
def test_run_page_shows_progress_curve_checkpoints_and_versions(client, dave, admin_api, demo_bank, base):
    job = admin_api.post(
        reverse("api-v1-tuning-runs"),
        {
            "method": "lora",
            "split": "all",
            "hyperparameters": {"num_train_epochs": 2, "logging_steps": 2, "val_size": 0.1},
        },
        format="json",
    ).json()
    reports = []
    run = run_execute(run_id=int(job["id"].removeprefix("ftjob-")), on_progress=reports.append)
    assert run.status == RunStatus.SUCCEEDED, run.error
    # progress ticks (with the tokens seen, for the speed) reach the run, not its events
    assert any("num_input_tokens_seen" in report.get("metrics", {}) for report in reports)
    assert not run.events.filter(data__has_key="epoch").exists()
    assert run.events.filter(message__regex=r"^checkpoint-\d+ saved$").exists()
    assert run.output_version.metrics["eval"]["n"] == 10
    checkpoints = admin_api.get(reverse("api-v1-tuning-run-checkpoints", args=[job["id"]])).json()["data"]
    assert checkpoints and checkpoints[-1]["object"] == "fine_tuning.job.checkpoint"
    client.force_login(dave)
    page = client.get(reverse("tuning-run", args=[run.pk])).content.decode()
    assert "<svg" in page and "<polyline" in page and "留出集" in page
    assert f"第 {run.metrics['max_steps']} / {run.metrics['max_steps']} 步" in page
    index = client.get(reverse("tuning-index")).content.decode()
    assert run.output_version.name in index and "简单任务用 8" in index
