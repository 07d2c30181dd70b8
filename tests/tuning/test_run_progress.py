"""A run's progress is kept on the run, not as events; the run page shows step/total, speed, the time
left and the loss curves; the tuning pages are in the school's language, and in English on request."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone, translation
from rest_framework.test import APIClient

from tuning.models import ModelVersion, RunStatus, TuningRun
from tuning.progress import MAX_LOSS_POINTS, progress_record, progress_restart, seconds_left, step_rate
from tuning.services import run_create, run_execute
from tuning.training import workflow
from tuning.training.config import ADVICE

pytestmark = pytest.mark.django_db


def tick(step: int, *, loss: float | None = None, eval_loss: float | None = None, tokens: int | None = None) -> dict:
    metrics = {"loss": loss, "eval_loss": eval_loss, "num_input_tokens_seen": tokens}
    return {
        "step": step,
        "max_steps": 40,
        "epoch": step / 20,
        "metrics": {key: value for key, value in metrics.items() if value is not None},
    }


def ticked(steps: range, *, start: float = 1000.0, seconds_per_step: float = 2.0) -> dict:
    metrics: dict = {}
    for step in steps:
        at = start + step * seconds_per_step
        metrics = progress_record(metrics, tick(step, loss=3.0 - step / 20, tokens=step * 100), at=at)
    return metrics


# --- the progress kept on the run ----------------------------------------------------------------


def test_the_step_rate_and_the_time_left_come_from_the_recent_ticks():
    progress = ticked(range(1, 13))["progress"]
    assert progress["step"] == 12 and progress["max_steps"] == 40 and progress["loss"] == pytest.approx(2.4)
    assert step_rate(progress) == pytest.approx(0.5)
    last = progress["updated_at"]
    assert seconds_left(progress, now=last) == pytest.approx(56.0)  # 28 steps at 2 s
    assert seconds_left(progress, now=last + 10) == pytest.approx(46.0)
    assert seconds_left(progress, now=last + 1000) == 0.0


def test_a_slower_pace_shows_in_the_time_left_once_it_fills_the_window():
    metrics = ticked(range(1, 11), seconds_per_step=1.0)
    for step in range(11, 21):  # ten times slower from step 11 on
        metrics = progress_record(metrics, tick(step, loss=1.0), at=1010.0 + (step - 10) * 10)
    assert step_rate(metrics["progress"]) == pytest.approx(0.1)


def test_an_evaluation_keeps_the_last_training_loss_and_adds_a_validation_point():
    metrics = progress_record(ticked(range(1, 5)), tick(4, eval_loss=2.5), at=2000.0)
    assert metrics["progress"]["loss"] == pytest.approx(2.8) and metrics["progress"]["eval_loss"] == 2.5
    assert metrics["loss_points"]["train"][-1] == [4, pytest.approx(2.8)]
    assert metrics["loss_points"]["eval"] == [[4, 2.5]]


def test_a_resumed_run_drops_the_points_past_its_checkpoint_and_measures_its_rate_afresh():
    metrics = progress_restart(ticked(range(1, 15)))
    assert metrics["progress"]["recent"] == []
    metrics = progress_record(metrics, tick(11, loss=1.0), at=9000.0)
    assert [step for step, _ in metrics["loss_points"]["train"]] == list(range(1, 12))
    assert step_rate(metrics["progress"]) is None  # one tick since the restart


def test_a_cancelled_runs_history_seeds_the_curves_it_resumes():
    metrics = progress_restart({"loss_history": [[2, 3.0], [4, 2.0]], "eval_loss_history": [[4, 2.5]]})
    assert metrics["loss_points"] == {"train": [[2, 3.0], [4, 2.0]], "eval": [[4, 2.5]]}


def test_the_curves_keep_their_shape_within_a_bounded_size():
    metrics = ticked(range(1, 3 * MAX_LOSS_POINTS))
    train = metrics["loss_points"]["train"]
    assert len(train) <= MAX_LOSS_POINTS
    assert train[0][0] == 1 and train[-1][0] == 3 * MAX_LOSS_POINTS - 1  # the first and latest points stay


# --- events are state changes and warnings ----------------------------------------------------


@pytest.fixture
def ticking_training(monkeypatch, tiny_base_model):
    """run_training that reports 20 progress ticks, a saved checkpoint, an evaluation and a warning,
    and records what the run looked like while it trained."""
    seen = {}

    def trained(config, *, report, **kwargs):
        report({"level": "warn", "message": "bf16 is not supported here: fp32"})
        for step in range(1, 21):
            report(tick(step, loss=3.0 - step / 10, tokens=step * 64) | {"max_steps": 20})
            if step == 10:
                report(tick(step, eval_loss=2.4) | {"max_steps": 20})
                report({"message": "checkpoint-10 saved", "step": 10})
        seen["run"] = TuningRun.objects.get(pk=config.output_dir.rsplit("-", 1)[1])
        report({"message": "evaluated on the held-out split", "metrics": {"answer_accuracy": 0.5}})
        return workflow.TrainingResult(
            model_dir=tiny_base_model,
            metrics={"steps": 20, "max_steps": 20, "loss_history": [[20, 1.0]], "eval": {"answer_accuracy": 0.5}},
        )

    monkeypatch.setattr(workflow, "run_training", trained)
    return seen


def test_a_runs_events_hold_no_per_step_ticks(demo_bank, base_version, ticking_training):
    run = run_execute(run_id=run_create(method="lora", split="all", enqueue=False).pk)
    assert run.status == RunStatus.SUCCEEDED, run.error
    messages = list(run.events.order_by("id").values_list("message", flat=True))
    assert not [message for message in messages if message == "progress"]
    assert not run.events.filter(data__has_key="epoch").exists()  # what a tick carries
    assert "checkpoint-10 saved" in messages and "bf16 is not supported here: fp32" in messages
    assert len(messages) < 20, messages  # not one per tick
    during = ticking_training["run"]
    assert during.progress == 1.0 and during.metrics["progress"]["step"] == 20
    assert during.metrics["progress"]["eval_loss"] == 2.4
    assert len(during.metrics["loss_points"]["train"]) == 20 and during.metrics["loss_points"]["eval"] == [[10, 2.4]]
    assert during.heartbeat_at is not None


def test_a_failed_run_keeps_its_last_progress_and_curves(demo_bank, base_version, monkeypatch):
    def failing(config, *, report, **kwargs):
        for step in (1, 2, 3):
            report(tick(step, loss=2.0))
        raise RuntimeError("CUDA out of memory")

    monkeypatch.setattr(workflow, "run_training", failing)
    run = run_execute(run_id=run_create(method="lora", split="all", enqueue=False).pk)
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and run.metrics["progress"]["step"] == 3
    assert [step for step, _ in run.metrics["loss_points"]["train"]] == [1, 2, 3]


# --- the run page ------------------------------------------------------------------------------


@pytest.fixture
def running_run(db):
    """A run at step 12 of 40, two seconds a step and 50 tokens a second lately."""
    base = ModelVersion.objects.create(name="base", path="/models/base", method="bootstrap", state="evaluated")
    now = timezone.now().timestamp()
    metrics = ticked(range(1, 13), start=now - 24)
    return TuningRun.objects.create(
        status=RunStatus.RUNNING,
        method="lora",
        base_version=base,
        config={},
        dataset_path="",
        dataset_size=10,
        progress=0.3,
        metrics=metrics,
        started_at=timezone.now() - timedelta(seconds=30),
    )


def test_the_run_page_shows_step_of_total_speed_time_left_and_the_curve(client, dave, running_run):
    client.force_login(dave)
    page = client.get(reverse("tuning-run", args=[running_run.pk])).content.decode()
    assert "第 12 / 40 步" in page
    assert "50 token/秒" in page
    assert "约剩 5" in page and "秒" in page  # 28 steps at 2 s: about 56 s, less the moments since
    assert "<polyline" in page and "训练" in page
    assert 'data-refresh="5"' in page and "tuning/run.js" in page  # it follows the run while it runs
    assert "<td>progress</td>" not in page


def test_a_finished_run_page_shows_its_final_steps_and_stops_following(client, dave, running_run):
    TuningRun.objects.filter(pk=running_run.pk).update(
        status=RunStatus.SUCCEEDED, metrics={"steps": 40, "max_steps": 40, "loss_history": [[20, 2.0], [40, 1.0]]}
    )
    client.force_login(dave)
    page = client.get(reverse("tuning-run", args=[running_run.pk])).content.decode()
    assert "第 40 / 40 步" in page and "约剩" not in page and "<polyline" in page
    assert "data-refresh" not in page and "tuning/run.js" not in page


def test_the_run_api_carries_the_progress(dave, running_run):
    api = APIClient()
    api.force_authenticate(dave)
    job = api.get(reverse("api-v1-tuning-run", args=[f"ftjob-{running_run.pk}"])).json()
    progress = job["training_progress"]
    assert progress["step"] == 12 and progress["max_steps"] == 40
    assert progress["tokens_per_second"] == pytest.approx(50.0) and 0 < progress["seconds_left"] <= 56
    assert job["estimated_finish"] > timezone.now().timestamp()


# --- the school's language, and English ---------------------------------------------------------


def test_the_tuning_pages_are_in_chinese_and_switch_to_english(client, dave, running_run):
    client.force_login(dave)
    index = client.get(reverse("tuning-index"), HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9").content.decode()
    assert '<html lang="zh-hans">' in index
    for text in ("模型版本", "开始训练", "基础模型", "简单任务用 8", "训练中", "启用"):
        assert text in index, text
    run_page = client.get(reverse("tuning-run", args=[running_run.pk])).content.decode()
    assert "训练中" in run_page and "事件" in run_page

    client.post(reverse("set_language"), {"language": "en", "next": reverse("tuning-index")})
    index = client.get(reverse("tuning-index")).content.decode()
    assert '<html lang="en">' in index
    for text in ("Model versions", "Start a run", "Base model", "8 for simple tasks", "Running", "Promote"):
        assert text in index, text
    assert "模型版本" not in index and "基础模型" not in index
    run_page = client.get(reverse("tuning-run", args=[running_run.pk])).content.decode()
    assert "Step 12 / 40" in run_page and "50 tokens/s" in run_page and " left" in run_page
    assert "Events" in run_page and "validation" in run_page and "事件" not in run_page


def test_the_forms_advice_in_english_is_the_configs():
    from tuning.views import HELP

    with translation.override("en"):
        assert {key: str(text) for key, text in HELP.items()} == {key: ADVICE[key] for key in HELP}
