"""The offline default model: a tiny, randomly initialised DeepSeek-R1-Distill-Qwen (Qwen2)
with a byte-level BPE tokenizer trained on the bank's own text and DeepSeek's chat template."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

from quizbank import prompts


@dataclass(frozen=True)
class TinySpec:
    vocab_size: int = 3000
    hidden_size: int = 256
    intermediate_size: int = 704
    num_hidden_layers: int = 4
    num_attention_heads: int = 4  # head_dim 64: vLLM's CPU attention refuses smaller heads
    num_key_value_heads: int = 2
    max_position_embeddings: int = 1024


def train_tokenizer(texts: Iterable[str], *, vocab_size: int) -> PreTrainedTokenizerFast:
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=prompts.SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(texts, trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        bos_token=prompts.BOS_TOKEN,
        eos_token=prompts.EOS_TOKEN,
        pad_token=prompts.PAD_TOKEN,
        extra_special_tokens=[prompts.USER_TOKEN, prompts.ASSISTANT_TOKEN],
        model_max_length=TinySpec.max_position_embeddings,
    )
    tokenizer.chat_template = prompts.DEEPSEEK_CHAT_TEMPLATE
    return tokenizer


def build_model(tokenizer: PreTrainedTokenizerFast, spec: TinySpec, *, seed: int) -> Qwen2ForCausalLM:
    torch.manual_seed(seed)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_hidden_layers,
        num_attention_heads=spec.num_attention_heads,
        num_key_value_heads=spec.num_key_value_heads,
        head_dim=spec.hidden_size // spec.num_attention_heads,
        max_position_embeddings=spec.max_position_embeddings,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        rope_theta=10000.0,
    )
    model = Qwen2ForCausalLM(config)
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model


def bootstrap_tiny_model(texts: list[str], out_dir: Path, *, spec: TinySpec = TinySpec(), seed: int = 0) -> dict:
    """Create tokenizer + random model and save both in Hugging Face format; returns a summary."""
    tokenizer = train_tokenizer(texts, vocab_size=spec.vocab_size)
    model = build_model(tokenizer, spec, seed=seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    return {
        "architecture": type(model).__name__,
        "parameters": sum(parameter.numel() for parameter in model.parameters()),
        "vocab_size": len(tokenizer),
        "head_dim": model.config.head_dim,
        "path": str(out_dir),
    }
