"""Q22: scaled dot-product attention. Read README.md first; run `pytest exercises/q22` to self-check.

Weights are [in_features, out_features] and applied as x @ W (not nn.Linear's x @ W.T); no biases.
Masks are boolean with True = "may attend".
"""
from __future__ import annotations

import math

import torch


def scaled_dot_product_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                                 mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (out, weights).

    q [..., T_q, d_k], k [..., T_k, d_k], v [..., T_k, d_v]; mask: BoolTensor broadcastable to [..., T_q, T_k].
    weights [..., T_q, T_k] = softmax(q @ k^T / sqrt(d_k)) over the keys, 0 where the mask is False;
    out [..., T_q, d_v] = weights @ v.
    A query whose keys are ALL masked gets 0 weights and 0 output (not NaN).
    The one fact: q.k of d_k unit-variance terms has variance d_k; dividing by sqrt(d_k) brings it back to 1.
    Wrong shapes or a non-bool mask are a ValueError naming the argument. Keep the input dtype.
    """
    if q.dim() < 2 or k.dim() < 2 or v.dim() < 2:
        raise ValueError("q, k and v need at least 2 dims [..., T, d]")
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"k: last dim {k.shape[-1]} does not match q's d_k {q.shape[-1]}")
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(f"v: {v.shape[-2]} keys but k has {k.shape[-2]}")
    d_k = q.shape[-1]
    logits = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(d_k)
    if mask is not None:
        if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
            raise ValueError("mask must be a bool tensor")
        try:
            mask = torch.broadcast_to(mask, logits.shape)
        except RuntimeError:
            raise ValueError(f"mask of shape {tuple(mask.shape)} does not broadcast to {tuple(logits.shape)}") from None
        logits = logits.masked_fill(~mask, float("-inf"))
    top = logits.amax(dim=-1, keepdim=True)
    top = torch.where(torch.isfinite(top), top, torch.zeros_like(top))
    e = torch.exp(logits - top)
    total = e.sum(dim=-1, keepdim=True)
    probs = torch.where(total > 0, e / total.clamp_min(torch.finfo(e.dtype).tiny), torch.zeros_like(e))
    return probs @ v, probs


def multi_head_attention(x: torch.Tensor, w_q: torch.Tensor, w_k: torch.Tensor, w_v: torch.Tensor,
                         w_o: torch.Tensor, n_heads: int, causal: bool = True) -> torch.Tensor:
    """Self-attention of x [..., T, d_model] with n_heads heads -> [..., T, d_model].

    w_q, w_k, w_v, w_o are [d_model, d_model] and applied as x @ W. Head h owns columns
    h*d_head:(h+1)*d_head of the projections (d_head = d_model // n_heads): reshape
    [..., T, d_model] -> [..., T, H, d_head] -> transpose to [..., H, T, d_head], attend per head
    (causal: position i sees positions <= i), undo the transpose and reshape, then @ w_o.
    n_heads not dividing d_model, or a weight of the wrong shape, is a ValueError naming the argument.
    """
    d_model = x.shape[-1]
    if n_heads < 1 or d_model % n_heads:
        raise ValueError(f"n_heads={n_heads} must divide d_model={d_model}")
    for label, w in (("w_q", w_q), ("w_k", w_k), ("w_v", w_v), ("w_o", w_o)):
        if tuple(w.shape) != (d_model, d_model):
            raise ValueError(f"{label} must be [{d_model}, {d_model}], got {tuple(w.shape)}")
    t = x.shape[-2]
    head_dim = d_model // n_heads

    def heads(y):
        return y.reshape(*y.shape[:-1], n_heads, head_dim).transpose(-3, -2)

    qh, kh, vh = heads(x @ w_q), heads(x @ w_k), heads(x @ w_v)
    allowed = torch.ones(t, t, dtype=torch.bool).tril() if causal else None
    ctx, _ = scaled_dot_product_attention(qh, kh, vh, allowed)
    merged = ctx.transpose(-3, -2).reshape(*x.shape[:-1], d_model)
    return merged @ w_o


def dot_product_std(d_k: int, scaled: bool, n_samples: int, generator: torch.Generator) -> float:
    """Draw n_samples pairs q, k in R^d_k with i.i.d. N(0, 1) entries, exactly as
        q, k = torch.randn(2, n_samples, d_k, generator=generator, dtype=torch.float64)
    and return the empirical std of the n_samples dot products q.k -- of q.k / sqrt(d_k) if scaled --
    as a float. The grader compares it with the std of these very samples for the same seed.

    Expect about sqrt(d_k) unscaled and about 1 scaled. Same generator seed, same result; each call
    draws new samples from the generator.
    d_k < 1 or n_samples < 2 is a ValueError naming the argument.
    """
    if d_k < 1:
        raise ValueError(f"d_k must be >= 1, got {d_k}")
    if n_samples < 2:
        raise ValueError(f"n_samples must be >= 2, got {n_samples}")
    q, k = torch.randn(2, n_samples, d_k, generator=generator, dtype=torch.float64)
    dots = (q * k).sum(-1)
    if scaled:
        dots = dots / math.sqrt(d_k)
    return float(dots.std())
