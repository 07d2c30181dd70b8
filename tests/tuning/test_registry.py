"""The base-model registry: `register_model` checks a checkpoint and records its size without loading it."""

import json
import math
import shutil
import struct

import pytest
from django.core.management import CommandError, call_command

from core.exceptions import ApplicationError
from quizbank import prompts
from tests.tuning.configs import QWEN2_7B
from tuning.models import ModelVersion
from tuning.services import run_create, version_promote

pytestmark = pytest.mark.django_db


def test_the_tiny_model_registers_with_its_parameters_read_from_the_safetensors_header(tiny_base_model, capsys):
    from safetensors import safe_open

    call_command("register_model", str(tiny_base_model), "--name", "tiny", "--json")
    shown = json.loads(capsys.readouterr().out)
    version = ModelVersion.objects.get(name="tiny")
    with safe_open(str(tiny_base_model / "model.safetensors"), framework="numpy") as weights:
        counted = sum(math.prod(weights.get_slice(key).get_shape()) for key in weights.keys())  # noqa: SIM118
    assert version.parameters == counted == shown["params"]
    assert version.architecture == "Qwen2ForCausalLM" and version.method == "checkpoint"
    assert not version.config_only and shown["notes"] == []  # its template is there


def test_a_7b_config_registers_alone_for_estimates_and_is_never_trained_nor_served(tmp_path, demo_bank):
    (tmp_path / "config.json").write_text(json.dumps(QWEN2_7B))
    call_command("register_model", str(tmp_path / "config.json"), "--name", "qwen2-7b", "--config-only")
    version = ModelVersion.objects.get(name="qwen2-7b")
    assert version.config_only and 7.5e9 < version.parameters < 7.7e9
    assert version.spec["hidden_size"] == 3584 and version.spec["num_key_value_heads"] == 4
    with pytest.raises(ApplicationError, match="config without weights.*cannot be trained"):
        run_create(method="lora", base_version=version, enqueue=False)
    with pytest.raises(ApplicationError, match="cannot be served"):
        version_promote(version=version)


def test_a_checkpoint_without_weights_needs_config_only(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(QWEN2_7B))
    (tmp_path / "tokenizer.json").write_text("{}")
    with pytest.raises(CommandError, match="no safetensors weights"):
        call_command("register_model", str(tmp_path), "--name", "no-weights")


def test_an_architecture_nobody_trains_or_serves_is_refused(tmp_path):
    (tmp_path / "config.json").write_text(
        json.dumps(QWEN2_7B | {"architectures": ["FooForCausalLM"], "model_type": "foo"})
    )
    with pytest.raises(CommandError, match="transformers has no causal language model FooForCausalLM.*vLLM does not"):
        call_command("register_model", str(tmp_path), "--name", "foo", "--config-only")
    assert not ModelVersion.objects.filter(name="foo").exists()


def test_a_checkpoint_without_a_chat_template_gets_the_deepseek_one_and_says_so(tiny_base_model, tmp_path, capsys):
    copy = tmp_path / "no-template"
    shutil.copytree(tiny_base_model, copy)
    (copy / "chat_template.jinja").unlink(missing_ok=True)
    tokenizer_config = json.loads((copy / "tokenizer_config.json").read_text())
    tokenizer_config.pop("chat_template", None)
    (copy / "tokenizer_config.json").write_text(json.dumps(tokenizer_config))

    call_command("register_model", str(copy), "--name", "plain")
    out = capsys.readouterr().out
    assert "no chat template: the DeepSeek template" in out
    assert (copy / "chat_template.jinja").read_text() == prompts.DEEPSEEK_CHAT_TEMPLATE
    assert ModelVersion.objects.get(name="plain").template_hash


def test_weights_are_counted_from_the_header_only(tmp_path):
    """A safetensors file's header names the shapes; the data after it is never read."""
    from tuning.checkpoints import read_checkpoint

    header = json.dumps({"a": {"dtype": "BF16", "shape": [1000, 3584], "data_offsets": [0, 0]}}).encode()
    (tmp_path / "config.json").write_text(json.dumps(QWEN2_7B))
    (tmp_path / "model.safetensors").write_bytes(struct.pack("<Q", len(header)) + header)
    assert read_checkpoint(tmp_path).weight_parameters == 3_584_000
