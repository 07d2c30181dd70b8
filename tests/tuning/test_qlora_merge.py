"""A QLoRA run's adapter is merged into the base loaded again unquantised, not into its 4-bit weights.
The 4-bit training itself needs CUDA (tests/gpu_check.py); the merge path is the same for any adapter,
so it is checked here on the CPU: the merged checkpoint answers as the adapter on the base does."""

from __future__ import annotations

import json

import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM, AutoTokenizer

from tuning.training.workflow import save_merged


def test_the_adapter_is_merged_into_the_base_loaded_again(tiny_base_model, tmp_path):
    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(tiny_base_model, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(tiny_base_model)
    model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", init_lora_weights=False))
    ids = tokenizer("计算：53 - 31 = ?", return_tensors="pt").input_ids
    with torch.no_grad():
        expected = model(ids).logits
        plain = AutoModelForCausalLM.from_pretrained(tiny_base_model, dtype=torch.float32)(ids).logits

    save_merged(model, tokenizer, tmp_path / "model", base_path=str(tiny_base_model))

    saved = json.loads((tmp_path / "model" / "config.json").read_text())
    assert saved.get("dtype", saved.get("torch_dtype")) == "bfloat16" and "quantization_config" not in saved
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "model", dtype=torch.float32)
    assert (tmp_path / "adapter" / "adapter_config.json").exists()
    with torch.no_grad():
        got = merged(ids).logits
    # bf16 weights: close to the adapter on the base, and far from the base without it
    assert torch.allclose(got, expected, atol=0.1), (got - expected).abs().max()
    assert (plain - expected).abs().max() > 10 * (got - expected).abs().max()
