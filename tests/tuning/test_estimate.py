"""The estimate against LLaMA-Factory's published hardware table (README, "Hardware Requirement").

The table is for batch 1, short sequences and gradient checkpointing (LLaMA-Factory's default); its
16-bit rows (freeze, LoRA) are pure bf16 weights, its "AMP" row mixed precision.
"""

import json

import pytest
from django.core.management import call_command

from tests.tuning.configs import QWEN2_7B, QWEN25_14B

pytestmark = pytest.mark.django_db

TABLE_SETTINGS = ["cutoff_len=512", "per_device_train_batch_size=1", "gradient_checkpointing=true"]
# method, --set extras, GB for 7B, GB for 14B
TABLE = [
    ("full", ["precision=amp"], 120, 240),
    ("full", ["precision=bf16"], 60, 120),
    ("freeze", ["precision=bf16"], 16, 32),
    ("lora", ["precision=bf16"], 16, 32),
    ("qlora", ["quantization_bit=8"], 10, 20),
    ("qlora", [], 6, 12),
]


@pytest.fixture
def registered(tmp_path):
    for name, config in (("qwen2-7b", QWEN2_7B), ("qwen2.5-14b", QWEN25_14B)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text(json.dumps(config))
        call_command("register_model", str(tmp_path / name), "--name", name, "--config-only")


def estimate(capsys, base: str, method: str, sets: list[str]) -> dict:
    args = ["tune", "--estimate", "--json", "--base", base, "--method", method]
    for pair in sets:
        args += ["--set", pair]
    call_command(*args)
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.mark.parametrize(("method", "extra", "gb_7b", "gb_14b"), TABLE)
def test_the_estimate_is_within_a_third_of_llama_factorys_table(registered, capsys, method, extra, gb_7b, gb_14b):
    for base, table_gb in (("qwen2-7b", gb_7b), ("qwen2.5-14b", gb_14b)):
        found = estimate(capsys, base, method, TABLE_SETTINGS + extra)
        assert set(found) >= {"method", "params", "per_device_gb", "devices", "fits", "pool", "why"}
        assert found["method"] == method and found["devices"] == 1 and found["pool"] == "default"
        assert abs(found["per_device_gb"] / table_gb - 1) <= 0.35, (base, method, extra, found)


def test_the_7b_config_counts_its_parameters(registered, capsys):
    found = estimate(capsys, "qwen2-7b", "lora", [])
    assert 7.5e9 < found["params"] < 7.7e9  # Qwen2-7B: 7.62B
    assert found["fits"] is None and "no live worker" in found["why"]


def test_zero_3_shares_full_training_among_devices(registered, capsys):
    one = estimate(capsys, "qwen2-7b", "full", TABLE_SETTINGS)
    eight = estimate(capsys, "qwen2-7b", "full", [*TABLE_SETTINGS, "zero_stage=3", "devices=8"])
    assert eight["devices"] == 8 and eight["per_device_gb"] < one["per_device_gb"] / 5


def test_an_unknown_setting_is_refused(registered):
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="lora_rnak"):
        call_command("tune", "--estimate", "--base", "qwen2-7b", "--set", "lora_rnak=8")
