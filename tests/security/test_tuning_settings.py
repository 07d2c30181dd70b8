"""Submitted tuning settings name training knobs only: paths, the base model and the method come from
the run, so a run cannot be pointed at another version's directory or at a model from outside.
Through the service, the API and `manage.py tune --set`."""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from rest_framework.test import APIClient

from core.exceptions import ApplicationError
from tuning.models import TuningRun
from tuning.services import run_create, version_register
from tuning.training.config import TuningConfig

pytestmark = pytest.mark.django_db

SYSTEM_SETTINGS = {
    "output_dir": "/srv/models/runs/run-1",  # another run's directory: its version would be overwritten
    "model_name_or_path": "someone/remote-model",  # a hub name: a model loaded from outside
    "dataset_path": "/etc/passwd",
    "finetuning_type": "full",
    "stage": "pt",
}


@pytest.fixture
def base(db, tmp_path):
    model_dir = tmp_path / "base-model"
    model_dir.mkdir()
    (model_dir / "config.json").write_text(json.dumps({"model_type": "qwen2"}))
    return version_register(name="base", path=model_dir, method="checkpoint")


def test_only_training_knobs_are_settable():
    settable = TuningConfig.settable()
    assert not settable & set(SYSTEM_SETTINGS)
    assert {"lora_rank", "lora_alpha", "learning_rate", "num_train_epochs", "quantization_bit"} <= settable


@pytest.mark.parametrize("key", sorted(SYSTEM_SETTINGS))
def test_the_service_refuses_a_system_setting_naming_it(demo_bank, base, key):
    with pytest.raises(ApplicationError) as refused:
        run_create(method="lora", overrides={key: SYSTEM_SETTINGS[key]}, enqueue=False)
    assert key in refused.value.message
    assert refused.value.extra["field"] == key and key in refused.value.extra["fields"]
    assert TuningRun.objects.count() == 0


def test_the_paths_are_the_runs_own(demo_bank, base, settings):
    run = run_create(method="lora", overrides={"lora_rank": 16, "lora_alpha": 32}, enqueue=False)
    assert run.config["output_dir"] == str(settings.MODEL_ROOT / "runs" / f"run-{run.pk}")
    assert run.config["model_name_or_path"] == base.path
    assert run.config["dataset_path"] == run.dataset_path
    assert (run.config["finetuning_type"], run.config["lora_rank"]) == ("lora", 16)


def test_the_api_answers_400_naming_the_field(demo_bank, base, dave):
    api = APIClient()
    api.force_authenticate(dave)
    response = api.post(
        reverse("api-v1-tuning-runs"),
        {"method": "lora", "hyperparameters": {"lora_rank": 16, "output_dir": "/srv/models/runs/run-1"}},
        format="json",
    )
    assert response.status_code == 400
    body = response.json()
    assert "output_dir" in body["message"] and body["extra"]["field"] == "output_dir"
    assert TuningRun.objects.count() == 0


def test_tune_set_refuses_a_path(demo_bank, base):
    with pytest.raises(CommandError, match="output_dir"):
        call_command("tune", "--method", "lora", "--set", "output_dir=/srv/models/runs/run-1")
    with pytest.raises(CommandError, match="model_name_or_path"):
        call_command("tune", "--method", "lora", "--set", "model_name_or_path=someone/remote-model")
    assert TuningRun.objects.count() == 0
