"""Attention for padding-free batches: each example of a flattened batch attends only to itself.

`DataCollatorWithFlattening` concatenates a batch into one row and gives the example boundaries as
`cu_seq_lens_q`; flash-attention's varlen kernel reads them on CUDA. This is the same contract for
any device: one causal SDPA call per example, so each call takes the fast `is_causal` kernel
(on CPU too) instead of the math kernel an explicit mask forces, and no padding is computed.
"""

from __future__ import annotations

import torch
from torch.nn import functional
from transformers import AttentionInterface

PADDING_FREE_ATTENTION = "sdpa_padding_free"


def padding_free_attention(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    sliding_window: int | None = None,
    cu_seq_lens_q: torch.Tensor | None = None,
    **kwargs,
) -> tuple[torch.Tensor, None]:
    """query, key, value: (1, heads, tokens, head_dim) of one flattened row; returns (1, tokens, heads, head_dim)."""
    if cu_seq_lens_q is None or query.shape[0] != 1:
        # without the boundaries the examples would attend to each other: refuse rather than train on that
        raise ValueError("padding-free attention needs one flattened row and its cu_seq_lens_q")
    lengths = torch.diff(cu_seq_lens_q).tolist()
    if sliding_window is not None and max(lengths) > sliding_window:
        raise ValueError(f"padding-free attention does not apply a sliding window ({sliding_window} tokens)")
    groups = getattr(module, "num_key_value_groups", 1)
    outputs = [
        functional.scaled_dot_product_attention(
            q, k, v, dropout_p=dropout, scale=scaling, is_causal=True, enable_gqa=groups > 1
        )
        for q, k, v in zip(
            query.split(lengths, dim=2), key.split(lengths, dim=2), value.split(lengths, dim=2), strict=True
        )
    ]
    return torch.cat(outputs, dim=2).transpose(1, 2).contiguous(), None


def register() -> str:
    """Makes the attention selectable by name (`attn_implementation=`); returns the name."""
    AttentionInterface.register(PADDING_FREE_ATTENTION, padding_free_attention)
    return PADDING_FREE_ATTENTION
