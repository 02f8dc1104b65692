"""Q35: MHA, GQA, MQA. Read README.md first; run `pytest exercises/q35` to self-check.

Weights are [in, out] applied as x @ W. Grouped-query attention keeps Hq query heads but only Hkv
key/value heads. The one fact: query head h uses kv head h // (Hq // Hkv) — consecutive query heads
share a kv head — so the KV cache is Hq / Hkv times smaller. Hkv = Hq is MHA, Hkv = 1 is MQA.
"""
from __future__ import annotations

import torch


def gqa_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool = True) -> torch.Tensor:
    """Grouped-query attention: q [..., Hq, Tq, D], k and v [..., Hkv, Tk, D] -> [..., Hq, Tq, D].

    Query head h attends with kv head h // (Hq // Hkv); scores are q k^T / sqrt(D), softmax over keys.
    Leading batch dims (any number, including none) must match. causal=True: the Tq queries are the
    LAST Tq of the Tk positions (query i sits at Tk - Tq + i and sees keys 0 .. Tk - Tq + i), so
    Tq <= Tk; Tq == Tk is ordinary training-time attention. causal=False: any Tq, Tk.
    ValueError (naming what is wrong): Hq not a multiple of Hkv, k and v shapes differ, D or batch dims
    differ, fewer than 3 dims, causal with Tq > Tk. Keep the input dtype; do not modify the inputs.
    """
    raise NotImplementedError


def mha_to_gqa(k_proj: torch.Tensor, n_kv_heads: int) -> torch.Tensor:
    """Turn a trained MHA key (or value) projection into a GQA one: [H, ...] -> [n_kv_heads, ...].

    k_proj is heads-first (dim 0 = the H heads, e.g. W_k [d_model, H*D] viewed as [H, d_model, D]); any
    trailing dims, also none ([H]: one number per head).
    kv head j is the MEAN of the H / n_kv_heads consecutive heads j*g .. j*g + g - 1 (g = H / n_kv_heads).
    ValueError if n_kv_heads is not an int >= 1 dividing H.
    """
    raise NotImplementedError


def kv_cache_ratio(n_heads: int, n_kv_heads: int) -> float:
    """How many times smaller the KV cache is than with MHA: n_heads / n_kv_heads (e.g. 64 / 8 = 8).

    ValueError unless both are ints >= 1 and n_kv_heads divides n_heads.
    """
    raise NotImplementedError
