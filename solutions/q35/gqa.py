"""Q35 reference: grouped-query attention. Hkv = Hq is MHA, Hkv = 1 is MQA.

Query head h uses kv head h // (Hq // Hkv): consecutive query heads share one kv head.
"""
from __future__ import annotations

import math

import torch


def _check_heads(n_heads, n_kv_heads, heads_name: str = "n_heads") -> None:
    for name, value in ((heads_name, n_heads), ("n_kv_heads", n_kv_heads)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    if n_heads % n_kv_heads:
        raise ValueError(f"{heads_name} ({n_heads}) must be a multiple of n_kv_heads ({n_kv_heads})")


def gqa_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool = True) -> torch.Tensor:
    """q [..., Hq, Tq, D], k/v [..., Hkv, Tk, D] -> [..., Hq, Tq, D].

    Causal: the Tq queries are the LAST Tq of the Tk positions (query i at position Tk - Tq + i), so
    Tq <= Tk; Tq == Tk is ordinary training-time attention.
    """
    for name, x in (("q", q), ("k", k), ("v", v)):
        if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.dim() < 3:
            raise ValueError(f"{name} must be a float tensor [..., heads, T, D]")
    if k.shape != v.shape:
        raise ValueError(f"k and v must have the same shape, got {tuple(k.shape)} and {tuple(v.shape)}")
    if q.dim() != k.dim() or q.shape[:-3] != k.shape[:-3] or q.shape[-1] != k.shape[-1]:
        raise ValueError(f"q {tuple(q.shape)} and k {tuple(k.shape)} must share batch dims and head_dim D")
    n_heads, t_q, d = q.shape[-3:]
    n_kv, t_k = k.shape[-3], k.shape[-2]
    _check_heads(n_heads, n_kv, "q heads")
    if causal and t_q > t_k:
        raise ValueError(f"causal attention needs t_q <= t_k (queries are the last positions), got {t_q} > {t_k}")
    group = n_heads // n_kv
    k, v = (x.repeat_interleave(group, dim=-3) for x in (k, v))   # [..., Hq, Tk, D]: kv head j -> heads j*g..j*g+g-1
    scores = q @ k.transpose(-2, -1) / math.sqrt(d)               # [..., Hq, Tq, Tk]
    if causal:
        i = torch.arange(t_q).unsqueeze(1)                        # [Tq, 1]
        j = torch.arange(t_k).unsqueeze(0)                        # [1, Tk]
        scores = scores.masked_fill(j > (t_k - t_q) + i, float("-inf"))
    weights = torch.softmax(scores, dim=-1)                       # [..., Hq, Tq, Tk]
    return weights @ v                                            # [..., Hq, Tq, D]


def mha_to_gqa(k_proj: torch.Tensor, n_kv_heads: int) -> torch.Tensor:
    """Heads-first weight [H, ...] -> [n_kv_heads, ...]: the mean of each group of H / n_kv_heads
    consecutive heads (the GQA paper's uptraining initialisation)."""
    if not isinstance(k_proj, torch.Tensor) or not k_proj.is_floating_point() or k_proj.dim() < 1:
        raise ValueError("k_proj must be a float tensor whose first dim is the heads, [H, ...]")
    n_heads = k_proj.shape[0]
    _check_heads(n_heads, n_kv_heads, "k_proj.shape[0] (heads)")
    group = n_heads // n_kv_heads
    return k_proj.reshape(n_kv_heads, group, *k_proj.shape[1:]).mean(dim=1)   # group j: heads j*g .. j*g+g-1


def kv_cache_ratio(n_heads: int, n_kv_heads: int) -> float:
    """How many times smaller the KV cache is with n_kv_heads than with n_heads (MHA): n_heads / n_kv_heads."""
    _check_heads(n_heads, n_kv_heads)
    return n_heads / n_kv_heads
