"""The official OpenAI client drives tuning runs through /v1/fine_tuning/jobs, unchanged."""

import json
import re
from datetime import timedelta

import openai
import pytest
from openai.types.fine_tuning import FineTuningJob, FineTuningJobEvent
from openai.types.fine_tuning.jobs import FineTuningJobCheckpoint
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from core.tokens import token_rotate
from tuning.models import RunStatus, TuningRun
from tuning.services import version_register

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def queued(monkeypatch):
    """Runs are queued without a broker: the ids that would have gone to the tuning queue."""
    sent: list[int] = []
    monkeypatch.setattr("tuning.services.run_enqueue", lambda *, run_id: sent.append(run_id))
    return sent


@pytest.fixture
def base(tiny_base_model):
    return version_register(name="base", path=tiny_base_model, method="bootstrap")


def _client(live_server, user) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=token_rotate(user=user).key, max_retries=0)


SUPERVISED = {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 2, "learning_rate_multiplier": 0.5}}}


def test_the_openai_client_creates_lists_follows_and_cancels_a_run(
    live_server, settings, dave, demo_bank, base, tiny_base_model, queued
):
    client = _client(live_server, dave)
    created = client.fine_tuning.jobs.with_raw_response.create(
        model="base", training_file="bank:all", method=SUPERVISED
    )
    texts = [created.http_response.text]
    job = FineTuningJob.model_validate(created.http_response.json())  # strict: nothing required missing
    assert job.object == "fine_tuning.job" and job.status == "queued" and job.model == "base"
    assert job.training_file == "bank:all" and job.organization_id == "org-quizsite" and job.seed == 42
    assert job.result_files == [] and job.fine_tuned_model is None and job.trained_tokens is None
    assert job.method is not None and job.method.type == "supervised"
    assert job.method.to_dict()["finetuning_type"] == "lora"
    assert job.hyperparameters.n_epochs == 2 and job.hyperparameters.learning_rate_multiplier == 0.5
    run = TuningRun.objects.get(pk=job.id.removeprefix("ftjob-"))
    assert run.method == "lora" and run.config["num_train_epochs"] == 2.0 and run.config["learning_rate"] == 1e-4
    assert queued == [run.pk]

    second = client.fine_tuning.jobs.create(
        model="base",
        training_file="bank:train:数学",
        method={
            "type": "supervised",
            "finetuning_type": "freeze",
            "supervised": {"hyperparameters": {"batch_size": 4, "freeze_trainable_layers": 1}},
        },
        seed=7,
    )
    assert second.training_file == "bank:train:数学" and second.seed == 7 and second.hyperparameters.batch_size == 4
    assert second.hyperparameters.to_dict()["freeze_trainable_layers"] == 1
    run2 = TuningRun.objects.get(pk=second.id.removeprefix("ftjob-"))
    assert (run2.method, run2.subject, run2.split) == ("freeze", "数学", "train")
    assert (run2.config["per_device_train_batch_size"], run2.config["gradient_accumulation_steps"]) == (2, 2)

    page = client.fine_tuning.jobs.list(limit=1)
    assert [item.id for item in page.data] == [second.id] and page.has_more
    assert [item.id for item in client.fine_tuning.jobs.list(limit=1)] == [second.id, job.id]  # follows `after`
    listed = client.fine_tuning.jobs.with_raw_response.list()
    texts.append(listed.http_response.text)
    assert listed.http_response.json()["object"] == "list"
    for item in listed.http_response.json()["data"]:
        FineTuningJob.model_validate(item)
    retrieved = client.fine_tuning.jobs.with_raw_response.retrieve(job.id)
    texts.append(retrieved.http_response.text)
    assert FineTuningJob.model_validate(retrieved.http_response.json()).id == job.id

    events = client.fine_tuning.jobs.with_raw_response.list_events(job.id, limit=1)
    texts.append(events.http_response.text)
    body = events.http_response.json()
    assert body["object"] == "list" and len(body["data"]) == 1 and body["has_more"]
    every = [event.message for event in client.fine_tuning.jobs.list_events(job.id, limit=1)]
    assert any(message.startswith("dataset valid:") for message in every) and len(every) >= 2
    FineTuningJobEvent.model_validate(body["data"][0])

    assert client.fine_tuning.jobs.checkpoints.list(job.id).data == []
    folder = settings.MODEL_ROOT / "runs" / f"run-{run.pk}" / "checkpoints" / "checkpoint-4"
    folder.mkdir(parents=True)
    history = [{"step": 4, "loss": 1.5}, {"step": 4, "eval_loss": 1.7}]
    (folder / "trainer_state.json").write_text(json.dumps({"global_step": 4, "epoch": 1.0, "log_history": history}))
    checkpoints = client.fine_tuning.jobs.checkpoints.with_raw_response.list(job.id)
    texts.append(checkpoints.http_response.text)
    checkpoint = FineTuningJobCheckpoint.model_validate(checkpoints.http_response.json()["data"][0])
    assert checkpoint.step_number == 4 and checkpoint.metrics.train_loss == 1.5 and checkpoint.metrics.valid_loss == 1.7
    assert checkpoint.fine_tuning_job_id == job.id

    cancelled = client.fine_tuning.jobs.with_raw_response.cancel(job.id)
    texts.append(cancelled.http_response.text)
    assert FineTuningJob.model_validate(cancelled.http_response.json()).status == "cancelled"
    assert TuningRun.objects.get(pk=run.pk).status == RunStatus.CANCELLED

    # the server's directories stay on the server
    for text in texts:
        assert str(settings.MODEL_ROOT) not in text and str(tiny_base_model) not in text
        assert not re.search(r'"/[^"]*/', text), text


@pytest.mark.parametrize(
    ("arguments", "said"),
    [
        ({"training_file": "file-abc123"}, "is not a bank export"),
        ({"training_file": "bank:test"}, "is not a bank export"),
        ({"training_file": "bank:all:没有这个科目"}, "no subject"),
        ({"method": {"type": "dpo", "dpo": {}}}, "only 'supervised'"),
        ({"method": {"type": "supervised", "finetuning_type": "qlora"}}, "finetuning_type"),
        ({"method": {"type": "supervised", "supervised": {"hyperparameters": {"lora_rnak": 8}}}}, "unknown hyperparam"),
        ({"method": {"type": "supervised", "supervised": {"hyperparameters": {"output_dir": "/x"}}}}, "unknown hyper"),
        ({"method": {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 0}}}}, "positive int"),
        ({"suffix": "mine"}, "not supported"),
    ],
)
def test_what_cannot_be_run_is_refused_with_the_reason(live_server, dave, demo_bank, base, queued, arguments, said):
    client = _client(live_server, dave)
    with pytest.raises(openai.BadRequestError) as refused:
        client.fine_tuning.jobs.create(**{"model": "base", "training_file": "bank:all", **arguments})
    assert said in str(refused.value)
    assert not TuningRun.objects.exists() and queued == []


def test_only_admins_with_a_live_token_may_tune(live_server, settings, alice, dave, base):
    with pytest.raises(openai.PermissionDeniedError):
        _client(live_server, alice).fine_tuning.jobs.list()
    with pytest.raises(openai.PermissionDeniedError):
        _client(live_server, alice).fine_tuning.jobs.create(model="base", training_file="bank:all")
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{live_server.url}/v1", api_key="not-a-token", max_retries=0).fine_tuning.jobs.list()
    client = _client(live_server, dave)
    assert client.fine_tuning.jobs.list().data == []
    Token.objects.filter(user=dave).update(
        created=Token.objects.get(user=dave).created - timedelta(seconds=settings.API_TOKEN_TTL + 1)
    )
    with pytest.raises(openai.AuthenticationError):
        client.fine_tuning.jobs.list()


def test_the_older_routes_show_no_server_path_either(live_server, settings, dave, demo_bank, base, queued):
    client = APIClient()
    client.force_authenticate(dave)
    job = client.post("/api/v1/tuning/runs", {"method": "lora", "split": "all"}, format="json").json()
    assert job["hyperparameters"]["lora_rank"] == 8 and "output_dir" not in job["hyperparameters"]
    shown = client.get(f"/api/v1/tuning/runs/{job['id']}").content.decode()
    assert str(settings.MODEL_ROOT) not in shown and "model_name_or_path" not in shown
