"""Compute pools: workers report their hardware, and a run too big for its pool is refused before it is queued."""

import json
import struct
from types import SimpleNamespace

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from core.exceptions import ApplicationError
from tests.tuning.configs import QWEN2_7B
from tuning import worker_signals
from tuning.compute import compute_worker_report
from tuning.models import ComputeWorker, RunStatus, TuningRun
from tuning.registry import base_model_register
from tuning.services import run_create

pytestmark = pytest.mark.django_db

H100 = {
    "device_type": "cuda",
    "device_name": "NVIDIA H100 80GB HBM3",
    "device_count": 8,
    "memory_per_device_gb": 85.0,
    "bf16": True,
    "bitsandbytes": True,
    "cpu_cores": 64,
    "ram_gb": 1000.0,
}
A100 = H100 | {"device_name": "NVIDIA A100-SXM4-40GB", "device_count": 1, "memory_per_device_gb": 42.4}
CPU = {"device_type": "cpu", "device_name": "x86_64", "device_count": 2, "memory_per_device_gb": 24.0}
CPU |= {"bf16": False, "bitsandbytes": False, "cpu_cores": 2, "ram_gb": 24.0}


def compute_json(capsys) -> dict:
    call_command("compute", "--json")
    return {pool["pool"]: pool for pool in json.loads(capsys.readouterr().out)["pools"]}


def test_compute_shows_the_local_worker_after_it_reports_itself(capsys):
    """The worker_ready handler, with the real hardware probe, as a worker of queue `tuning` calls it."""
    consumer = SimpleNamespace(
        hostname="tuning@here",
        app=SimpleNamespace(amqp=SimpleNamespace(queues=SimpleNamespace(consume_from={"tuning": None}))),
    )
    try:
        worker_signals.report_on_start(sender=consumer)
    finally:
        worker_signals._heartbeat_stop.set()
    pools = compute_json(capsys)
    (worker,) = pools["default"]["workers"]
    assert worker["name"] == "tuning@here" and worker["state"] == "idle" and pools["default"]["queue"] == "tuning"
    assert worker["device_type"] in ("cpu", "cuda") and worker["devices"] >= 1 and worker["ram_gb"] > 0
    assert worker["cpu_cores"] >= 1 and worker["memory_per_device_gb"] > 0


def test_a_worker_of_another_queue_reports_nothing():
    consumer = SimpleNamespace(
        hostname="w@here",
        app=SimpleNamespace(amqp=SimpleNamespace(queues=SimpleNamespace(consume_from={"inference": None}))),
    )
    worker_signals.report_on_start(sender=consumer)
    assert not ComputeWorker.objects.exists()


def test_pools_show_busy_idle_and_gone_workers(capsys, base_version, demo_bank):
    run = run_create(method="lora", enqueue=False)
    TuningRun.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING)
    compute_worker_report(name="tuning@a", pool="gpu80", host="a", hardware=H100, starting=True)
    compute_worker_report(name="tuning@b", pool="gpu80", host="b", hardware=H100, starting=True)
    compute_worker_report(name="tuning@old", pool="gpu80", host="c", hardware=H100, starting=True)
    worker_signals.report_busy(
        sender=SimpleNamespace(name="tuning.run_tuning", request=SimpleNamespace(hostname="tuning@a")), args=(run.pk,)
    )
    ComputeWorker.objects.filter(name="tuning@old").update(last_seen=timezone.now() - timezone.timedelta(hours=1))
    pool = compute_json(capsys)["gpu80"]
    states = {worker["name"]: (worker["state"], worker["run"]) for worker in pool["workers"]}
    assert states == {"tuning@a": ("busy", run.pk), "tuning@b": ("idle", None), "tuning@old": ("gone", None)}
    assert pool["queue"] == "tuning.gpu80" and pool["live_workers"] == 2 and pool["busy_workers"] == 1


@pytest.fixture
def big_base(tmp_path):
    """A 7B Qwen2 checkpoint as the registry sees it: its safetensors header names 7.6B parameters."""
    (tmp_path / "config.json").write_text(json.dumps(QWEN2_7B))
    (tmp_path / "tokenizer.json").write_text("{}")
    (tmp_path / "chat_template.jinja").write_text("{{ messages }}")
    header = json.dumps({"w": {"dtype": "BF16", "shape": [7_615_616_512], "data_offsets": [0, 0]}}).encode()
    (tmp_path / "model.safetensors").write_bytes(struct.pack("<Q", len(header)) + header)
    return base_model_register(name="qwen2-7b", path=tmp_path)


def test_a_run_too_big_for_its_pool_is_refused_before_it_is_queued_naming_an_alternative(demo_bank, big_base):
    compute_worker_report(name="tuning@a100", pool="a100", host="a100", hardware=A100, starting=True)
    with pytest.raises(ApplicationError, match=r"does not fit pool 'a100'.*42 GB.*use QLoRA \(4-bit\)") as refused:
        run_create(method="full", base_version=big_base, pool="a100")
    assert refused.value.extra["estimate"]["fits"] is False
    assert not TuningRun.objects.exists()  # nothing written, nothing queued
    with pytest.raises(CommandError, match="does not fit pool 'a100'"):
        call_command("tune", "--base", "qwen2-7b", "--method", "full", "--pool", "a100")


def test_a_bigger_pool_is_named_when_nothing_smaller_fits(demo_bank, big_base):
    compute_worker_report(name="tuning@cpu", pool="cpu", host="cpu", hardware=CPU, starting=True)
    compute_worker_report(name="tuning@h100", pool="gpu80", host="h", hardware=H100, starting=True)
    with pytest.raises(ApplicationError, match="send it to pool 'gpu80'"):
        run_create(method="lora", base_version=big_base, pool="cpu")


def test_qlora_on_a_cpu_pool_is_refused_with_the_reason(demo_bank, big_base):
    compute_worker_report(name="tuning@cpu", pool="cpu", host="cpu", hardware=CPU, starting=True)
    with pytest.raises(ApplicationError, match="QLoRA needs bitsandbytes, which needs CUDA"):
        run_create(method="lora", base_version=big_base, overrides={"quantization_bit": 4}, pool="cpu")


def test_a_run_that_fits_is_queued_to_its_pools_queue(
    demo_bank, big_base, monkeypatch, django_capture_on_commit_callbacks
):
    from tuning.tasks import run_tuning

    sent = []
    monkeypatch.setattr(run_tuning, "apply_async", lambda args, queue: sent.append((args, queue)))
    compute_worker_report(name="tuning@h100", pool="gpu80", host="h", hardware=H100, starting=True)
    with django_capture_on_commit_callbacks(execute=True):
        run = run_create(method="lora", base_version=big_base, pool="gpu80")
    assert sent == [((run.pk,), "tuning.gpu80")] and run.pool == "gpu80"
    assert any("fits 1 of 1 live workers" in event.message for event in run.events.all())


def test_a_pool_without_a_live_worker_is_said_not_refused(demo_bank, base_version, monkeypatch):
    run = run_create(method="lora")
    assert any("no live worker" in event.message for event in run.events.all())


def test_an_unknown_pool_is_refused(demo_bank, base_version):
    with pytest.raises(ApplicationError, match="no worker has ever served pool 'nowhere'"):
        run_create(method="lora", pool="nowhere")


def test_the_api_and_the_openai_endpoint_refuse_alike(client, dave, demo_bank, big_base):
    compute_worker_report(name="tuning@a100", pool="a100", host="a100", hardware=A100, starting=True)
    client.force_login(dave)
    response = client.post(
        "/api/v1/tuning/runs", {"method": "full", "model": "qwen2-7b", "pool": "a100"}, content_type="application/json"
    )
    assert response.status_code == 400 and "does not fit pool 'a100'" in response.json()["message"]
    response = client.post(
        "/v1/fine_tuning/jobs",
        {
            "model": "qwen2-7b",
            "training_file": "bank:train",
            "pool": "a100",
            "method": {"type": "supervised", "finetuning_type": "full"},
        },
        content_type="application/json",
    )
    assert response.status_code == 400, response.json()
    assert "does not fit" in response.json()["error"]["message"]


def test_the_run_form_asks_for_its_estimate(client, dave, demo_bank, big_base):
    compute_worker_report(name="tuning@a100", pool="a100", host="a100", hardware=A100, starting=True)
    client.force_login(dave)
    found = client.get(
        "/tuning/estimate/",
        {"base": "qwen2-7b", "method": "qlora", "stage": "sft", "split": "train", "pool": "a100", "devices": 1},
    ).json()
    assert found["fits"] is True and found["method"] == "qlora" and found["summary"]
    found = client.get(
        "/tuning/estimate/",
        {"base": "qwen2-7b", "method": "full", "stage": "sft", "split": "train", "pool": "a100", "devices": 1},
    ).json()
    assert found["fits"] is False and "QLoRA" in found["summary"]
    page = client.get("/tuning/").content.decode()
    assert 'id="run-estimate"' in page and "tuning/estimate.js" in page


@pytest.mark.django_db(transaction=True)
def test_a_real_tuning_worker_reports_its_hardware_and_compute_shows_it(tmp_path, capsys):
    """`celery worker -Q tuning` as a process of its own: its start report reaches the database, and
    `compute --json` lists it with the machine's hardware."""
    import socket
    import time

    from tests.security.test_faults import celery_worker, log_tail
    from tuning.models import ComputeWorker

    log = tmp_path / "worker.log"
    with celery_worker(log, queues="tuning"):
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not ComputeWorker.objects.exists():
            time.sleep(0.5)
        assert ComputeWorker.objects.exists(), log_tail(log)
        pools = compute_json(capsys)
    (worker,) = pools["default"]["workers"]
    assert worker["name"].startswith("faults-") and worker["host"] == socket.gethostname()
    assert worker["device_type"] in ("cpu", "cuda") and worker["cpu_cores"] >= 1 and worker["ram_gb"] > 0
