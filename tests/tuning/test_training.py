"""The training side on the real tiny model: template, loss mask, LoRA merge, freeze."""

import json

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from quizbank import prompts
from tests.conftest import demo_records
from tuning.training.config import ConfigError, TuningConfig, preset, validate
from tuning.training.data import IGNORE_INDEX, FlatCollator, PadCollator, encode_sft, prompt_ids
from tuning.training.workflow import run_training


def test_bootstrap_model_is_a_deepseek_distill_qwen2_with_head_dim_64(tiny_base_model):
    config = json.loads((tiny_base_model / "config.json").read_text())
    assert config["architectures"] == ["Qwen2ForCausalLM"]
    assert config["head_dim"] == 64 == config["hidden_size"] // config["num_attention_heads"]
    model = AutoModelForCausalLM.from_pretrained(tiny_base_model)
    n_params = sum(p.numel() for p in model.parameters())
    assert 2_000_000 < n_params < 6_000_000


def test_tokenizer_has_deepseek_special_tokens_and_chat_template(tiny_base_model):
    tokenizer = AutoTokenizer.from_pretrained(tiny_base_model)
    for token in prompts.SPECIAL_TOKENS:
        ids = tokenizer(token, add_special_tokens=False)["input_ids"]
        assert len(ids) == 1, token  # each special token is one id, never split
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": "你好"}, {"role": "assistant", "content": "答案：A"}], tokenize=False
    )
    assert text == "<｜begin▁of▁sentence｜><｜User｜>你好<｜Assistant｜>答案：A<｜end▁of▁sentence｜>"
    # byte-level BPE: any text round-trips, including characters the bank never had
    sample = "∫x²dx ＝ 😀 Ω"
    assert tokenizer.decode(tokenizer(sample, add_special_tokens=False)["input_ids"]) == sample


def test_sft_loss_is_on_the_answer_tokens_only(tiny_base_model):
    tokenizer = AutoTokenizer.from_pretrained(tiny_base_model)
    record = demo_records()[0]
    example = encode_sft(tokenizer, record, cutoff_len=1024)
    prompt = prompt_ids(tokenizer, record)
    assert example["input_ids"][: len(prompt)] == prompt
    assert example["labels"][: len(prompt)] == [IGNORE_INDEX] * len(prompt)
    learnt = example["labels"][len(prompt) :]
    assert IGNORE_INDEX not in learnt
    assert learnt[-1] == tokenizer.eos_token_id
    assert tokenizer.decode(learnt, skip_special_tokens=True) == record["output"]


def test_padding_free_batches_give_the_padded_batches_loss_and_gradients(tiny_base_model):
    from tuning.training import attention

    tokenizer = AutoTokenizer.from_pretrained(tiny_base_model)
    batch = [encode_sft(tokenizer, record, cutoff_len=1024) for record in demo_records()[:3]]
    assert len({len(example["input_ids"]) for example in batch}) > 1  # the padded batch has padding
    padded_model = AutoModelForCausalLM.from_pretrained(tiny_base_model)
    flat_model = AutoModelForCausalLM.from_pretrained(tiny_base_model, attn_implementation=attention.register())
    padded = padded_model(**PadCollator(tokenizer.pad_token_id)(batch))
    flat = flat_model(**FlatCollator()(batch))
    torch.testing.assert_close(flat.loss, padded.loss)
    padded.loss.backward()
    flat.loss.backward()
    for (name, expected), found in zip(padded_model.named_parameters(), flat_model.parameters(), strict=True):
        torch.testing.assert_close(found.grad, expected.grad, atol=1e-6, rtol=1e-4, msg=name)
    # without the example boundaries the examples would see each other: refused
    with pytest.raises(ValueError, match="cu_seq_lens_q"):
        flat_model(input_ids=torch.tensor([batch[0]["input_ids"] + batch[1]["input_ids"]]))


def test_config_validation_quotes_the_advice():
    with pytest.raises(ConfigError, match="integer multiple of the rank"):
        validate(TuningConfig(model_name_or_path="m", dataset_path="d", output_dir="o", lora_rank=8, lora_alpha=12))
    with pytest.raises(ConfigError, match="unknown setting"):
        TuningConfig.from_dict({"model_name_or_path": "m", "dataset_path": "d", "output_dir": "o", "lora_rnak": 8})
    assert preset("lora", dataset_size=200)["lora_dropout"] == 0.3
    assert preset("lora", dataset_size=200_000)["lora_rank"] == 16


def short_config(base, dataset, out, method, **extra):
    values = preset(method, dataset_size=100, memorise=True) | {"num_train_epochs": 2.0, "stop_at_loss": 0.0}
    return TuningConfig(
        model_name_or_path=str(base), dataset_path=str(dataset), output_dir=str(out), **(values | extra)
    )


@pytest.mark.slow
def test_merged_lora_model_gives_the_peft_models_logits(tiny_base_model, demo_dataset, tmp_path):
    from peft import PeftModel

    result = run_training(short_config(tiny_base_model, demo_dataset, tmp_path, "lora"))
    tokenizer = AutoTokenizer.from_pretrained(result.model_dir)
    ids = torch.tensor([prompt_ids(tokenizer, demo_records()[3])])

    base = AutoModelForCausalLM.from_pretrained(tiny_base_model).eval()
    peft_model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_base_model), tmp_path / "adapter")
    merged = AutoModelForCausalLM.from_pretrained(result.model_dir).eval()
    with torch.no_grad():
        base_logits = base(ids).logits
        peft_logits = peft_model.eval()(ids).logits
        merged_logits = merged(ids).logits
    assert not torch.allclose(base_logits, peft_logits, atol=1e-3)  # training changed the model
    torch.testing.assert_close(merged_logits, peft_logits, atol=1e-4, rtol=1e-4)
    assert (result.model_dir / "model.safetensors").exists()
    assert (result.model_dir / "chat_template.jinja").exists()


@pytest.mark.slow
def test_freeze_trains_only_the_top_layers(tiny_base_model, demo_dataset, tmp_path):
    result = run_training(short_config(tiny_base_model, demo_dataset, tmp_path, "freeze", freeze_trainable_layers=1))
    before = AutoModelForCausalLM.from_pretrained(tiny_base_model).state_dict()
    after = AutoModelForCausalLM.from_pretrained(result.model_dir).state_dict()
    top = f"layers.{len([k for k in before if k.endswith('input_layernorm.weight')]) - 1}."
    for name, tensor in before.items():
        if top in name:
            continue
        assert torch.equal(tensor, after[name]), f"{name} changed but is frozen"
    assert any(not torch.equal(before[name], after[name]) for name in before if top in name)


def test_resume_skips_a_checkpoint_left_half_written(tmp_path):
    from tuning.training.workflow import last_complete_checkpoint

    checkpoints = tmp_path / "checkpoints"
    assert last_complete_checkpoint(checkpoints) is None
    for step, complete in ((5, True), (10, True), (15, False)):
        folder = checkpoints / f"checkpoint-{step}"
        folder.mkdir(parents=True)
        if complete:
            (folder / "trainer_state.json").write_text("{}")
    assert last_complete_checkpoint(checkpoints) == str(checkpoints / "checkpoint-10")
