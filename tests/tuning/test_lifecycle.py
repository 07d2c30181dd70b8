"""Run lifecycle: validation, cancel, resume after a killed process, stale runs, promotion rules."""

import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from core.exceptions import ApplicationError
from tests.conftest import REPO
from tuning.models import PromotionLog, RunStatus, TuningRun
from tuning.services import run_create, run_execute, runs_recover_stale, version_promote, version_register
from tuning.training.config import ConfigError, Hardware, TuningConfig, preset, validate
from tuning.training.workflow import run_training


def config_for(base, dataset, out, method="lora", **extra):
    values = preset(method, dataset_size=100, memorise=True) | {"num_train_epochs": 2.0, "stop_at_loss": 0.0}
    return TuningConfig(
        model_name_or_path=str(base), dataset_path=str(dataset), output_dir=str(out), **(values | extra)
    )


def test_invalid_configs_are_refused_with_the_advice():
    base = {"model_name_or_path": "m", "dataset_path": "d", "output_dir": "o"}
    with pytest.raises(ConfigError, match="8 for simple tasks"):
        validate(TuningConfig(**base, lora_rank=0))
    with pytest.raises(ConfigError, match="rank 8 → alpha 16"):
        validate(TuningConfig(**base, lora_rank=8, lora_alpha=20))
    with pytest.raises(ConfigError, match="1e-06–5e-05 advised for full"):
        validate(TuningConfig(**base, finetuning_type="full", learning_rate=2e-4))
    validate(TuningConfig(**base, finetuning_type="full", learning_rate=2e-4, allow_unadvised_learning_rate=True))
    with pytest.raises(ConfigError, match="QLoRA .* needs a CUDA GPU and the bitsandbytes package"):
        validate(TuningConfig(**base, quantization_bit=4), hardware=Hardware(cuda=False))
    with pytest.raises(ConfigError, match="lora only"):
        validate(TuningConfig(**base, finetuning_type="freeze", learning_rate=5e-5, quantization_bit=4))


def test_full_fine_tuning_of_a_7b_model_is_refused_on_a_small_gpu(tmp_path):
    (tmp_path / "config.json").write_text(
        json.dumps(
            {
                "hidden_size": 3584,
                "num_hidden_layers": 28,
                "intermediate_size": 18944,
                "vocab_size": 152064,
                "num_attention_heads": 28,
                "num_key_value_heads": 4,
            }
        )
    )
    config = TuningConfig(
        model_name_or_path=str(tmp_path), dataset_path="d", output_dir="o", finetuning_type="full", learning_rate=1e-5
    )
    with pytest.raises(ConfigError, match=r"full fine-tuning of 7\.\dB parameters needs about \d+ GiB"):
        validate(config, hardware=Hardware(cuda=True, gpu_memory_gib=24, bf16=True))


def test_auto_presets_follow_the_seed():
    small, large = preset("lora", dataset_size=500), preset("lora", dataset_size=500_000)
    assert (small["lora_rank"], small["lora_alpha"], small["lora_dropout"]) == (8, 16, 0.3)
    assert large["lora_alpha"] % large["lora_rank"] == 0 and large["lora_dropout"] < 0.1
    assert small["early_stopping_patience"] and small["val_size"] > 0  # early stopping on small data
    assert preset("freeze", dataset_size=500)["learning_rate"] == 5e-5
    assert preset("full", dataset_size=500, hardware=Hardware(cuda=True, gpu_memory_gib=80, bf16=True))["bf16"]


@pytest.mark.slow
def test_pt_stage_with_packing_and_full_fine_tuning_change_every_layer(tiny_base_model, demo_dataset, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM

    result = run_training(
        config_for(
            tiny_base_model,
            demo_dataset,
            tmp_path,
            "full",
            stage="pt",
            packing=True,
            cutoff_len=256,
            num_train_epochs=1.0,
        )
    )
    before = AutoModelForCausalLM.from_pretrained(tiny_base_model).state_dict()
    after = AutoModelForCausalLM.from_pretrained(result.model_dir).state_dict()
    assert all(not torch.equal(before[name], after[name]) for name in before if "layers." in name and "weight" in name)


@pytest.mark.slow
def test_a_killed_training_resumes_from_its_checkpoint_to_the_same_step_count(tiny_base_model, demo_dataset, tmp_path):
    config = config_for(tiny_base_model, demo_dataset, tmp_path / "run", "lora", num_train_epochs=3.0, save_steps=8)
    reference = run_training(config_for(tiny_base_model, demo_dataset, tmp_path / "ref", "lora", num_train_epochs=3.0))
    script = (
        "import json, sys; from tuning.training.config import TuningConfig; "
        "from tuning.training.workflow import run_training; "
        f"run_training(TuningConfig.from_dict(json.loads({json.dumps(json.dumps(config.to_dict()))})))"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=REPO,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    checkpoints = tmp_path / "run" / "checkpoints"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and not (checkpoints / "checkpoint-16" / "trainer_state.json").exists():
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert (checkpoints / "checkpoint-16").is_dir(), "no checkpoint was written before the kill"
    assert not (tmp_path / "run" / "model").exists()  # it really died mid-way

    resumed = run_training(config, resume=True)
    assert resumed.resumed_from and resumed.resumed_from.startswith("checkpoint-")
    assert resumed.metrics["steps"] == reference.metrics["steps"] == resumed.metrics["max_steps"]


@pytest.mark.slow
@pytest.mark.django_db
def test_cancel_stops_at_a_checkpoint_and_resume_finishes(demo_bank, tiny_base_model):
    from tuning.services import run_cancel, run_resume

    version_register(name="base", path=tiny_base_model, method="bootstrap")
    run = run_create(
        method="lora", memorise=True, overrides={"num_train_epochs": 2.0, "stop_at_loss": 0.0}, enqueue=False
    )
    seen = []

    def cancel_after_first_report(event):
        seen.append(event)
        if len(seen) == 2:
            run_cancel(run=TuningRun.objects.get(pk=run.pk))

    run = run_execute(run_id=run.pk, on_progress=cancel_after_first_report)
    assert run.status == RunStatus.CANCELLED
    assert run.metrics["steps"] < run.metrics["max_steps"]
    run = run_execute(run_id=run_resume(run=run, enqueue=False).pk)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.metrics["steps"] == run.metrics["max_steps"]
    assert run.events.filter(message__startswith="resuming from checkpoint-").exists()


@pytest.mark.django_db
def test_a_run_whose_worker_died_is_resumed_then_failed_never_left_running(demo_bank, tiny_base_model, settings):
    version_register(name="base", path=tiny_base_model, method="bootstrap")
    run = run_create(method="lora", enqueue=False)
    long_ago = timezone.now() - timedelta(seconds=settings.TUNING_STALE_SECONDS + 5)
    TuningRun.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING, heartbeat_at=long_ago, attempts=1)
    assert runs_recover_stale() == [run.pk]
    run.refresh_from_db()
    assert run.status == RunStatus.QUEUED and run.resume
    TuningRun.objects.filter(pk=run.pk).update(
        status=RunStatus.RUNNING, heartbeat_at=long_ago, attempts=settings.TUNING_MAX_ATTEMPTS
    )
    runs_recover_stale()
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and "stopped answering" in run.error


@pytest.mark.django_db
def test_a_forced_promotion_needs_a_reason_and_a_rollback_is_logged(tiny_base_model):
    good = version_register(name="good", path=tiny_base_model, method="full")
    other = version_register(name="other", path=tiny_base_model, method="lora", state="trained")
    version_promote(version=good)
    with pytest.raises(ApplicationError, match="not evaluated yet"):
        version_promote(version=other)
    with pytest.raises(ApplicationError, match="needs a reason"):
        version_promote(version=other, force=True, reason="  ")
    version_promote(version=other, force=True, reason="measured by hand")
    version_promote(version=good)  # rollback
    good.refresh_from_db()
    assert good.is_active and good.template_hash
    log = list(PromotionLog.objects.order_by("id").values_list("action", "from_version", "to_version", "reason"))
    assert log == [
        ("promote", "", "good", ""),
        ("forced", "good", "other", "measured by hand"),
        ("rollback", "other", "good", ""),
    ]


@pytest.mark.django_db
def test_retraining_starts_when_enough_new_questions_arrived(tiny_base_model, tmp_path):
    from quizbank.services import bank_import_file
    from tests.conftest import DEMO_BANK
    from tuning.services import retrain_if_due

    active = version_register(name="ft-old", path=tiny_base_model, method="full")
    version_promote(version=active)
    assert retrain_if_due(min_new_questions=50) is None  # nothing new yet
    bank_import_file(path=DEMO_BANK)
    run = retrain_if_due(min_new_questions=50)
    assert run is not None and run.base_version == active and run.dataset_size == 100 and run.promote
    assert retrain_if_due(min_new_questions=50) is None  # one at a time
