"""Q34: from 8K to 32K context. Read README.md first; run `pytest exercises/q34` to self-check.

RoPE rotates pair i of a head at position m by the angle m * theta_i, theta_i = base ** (-2i / d).
A model trained on L tokens has only seen angles in [0, L * theta_i). The one fact: to run at
scale * L tokens, either squeeze the positions (m / scale) or slow the slow frequencies (a larger base),
so that the angles stay inside what training saw — and pay for the KV cache, which grows linearly in T.
"""
from __future__ import annotations

import torch


def interpolate_positions(positions: torch.Tensor, scale: float) -> torch.Tensor:
    """Position interpolation: return positions / scale (same shape); positions is a tensor.

    scale = new length / trained length (e.g. 32768 / 8192 = 4), a finite number >= 1 (ValueError
    otherwise; scale < 1 would push positions out of the trained range). Floating positions keep their
    dtype; integer positions come back as floats (torch's default dtype) — fractions are the point.
    """
    raise NotImplementedError


def ntk_scaled_base(base: float, scale: float, head_dim: int) -> float:
    """NTK-aware scaling: the new RoPE base, base * scale ** (head_dim / (head_dim - 2)), as a float.

    With it the fastest pair (i = 0) keeps its frequency and the slowest (i = d/2 - 1) rotates exactly
    `scale` times slower. ValueError unless base is a finite number > 0, scale a finite number >= 1 (NaN and
    inf are errors, as in interpolate_positions) and head_dim an even int >= 4.
    """
    raise NotImplementedError


def kv_cache_bytes(n_layers: int, n_kv_heads: int, head_dim: int, seq_len: int, batch: int,
                   bytes_per_elem: float) -> int | float:
    """Bytes of the KV cache: 2 (K and V) * n_layers * n_kv_heads * head_dim * seq_len * batch * bytes_per_elem.

    Counts are non-negative ints; bytes_per_elem > 0 (2 for fp16/bf16, 1 for int8/fp8, 0.5 for 4-bit).
    Anything else is a ValueError naming the argument. Llama-3-8B at 32K tokens in fp16: 4 GiB.
    """
    raise NotImplementedError
