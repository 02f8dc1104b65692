"""Q22 reference: scaled dot-product attention, multi-head attention, and why we divide by sqrt(d_k).

Weights are [in_features, out_features] and applied as x @ W (not nn.Linear's x @ W.T).
"""
from __future__ import annotations

import math

import torch


def _check_float(name: str, t) -> None:
    if not isinstance(t, torch.Tensor) or not t.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got {getattr(t, 'dtype', type(t).__name__)}")
    if t.dim() < 2:
        raise ValueError(f"{name} must have shape [..., T, D], got {tuple(t.shape)}")


def scaled_dot_product_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                                 mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """q [..., T_q, d_k], k [..., T_k, d_k], v [..., T_k, d_v] -> (out [..., T_q, d_v], weights [..., T_q, T_k])."""
    for name, t in (("q", q), ("k", k), ("v", v)):
        _check_float(name, t)
    if k.dtype != q.dtype or v.dtype != q.dtype:
        raise ValueError(f"q, k and v must share a dtype, got {q.dtype}, {k.dtype}, {v.dtype}")
    if k.shape[-1] != q.shape[-1]:
        raise ValueError(f"k's last dim ({k.shape[-1]}) must equal q's d_k ({q.shape[-1]})")
    if v.shape[-2] != k.shape[-2]:
        raise ValueError(f"v has {v.shape[-2]} positions but k has {k.shape[-2]}")
    try:
        lead = torch.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    except RuntimeError:
        raise ValueError(f"the leading dims of q {tuple(q.shape)}, k {tuple(k.shape)} and v {tuple(v.shape)} "
                         f"do not broadcast") from None
    d_k = q.shape[-1]
    scores = q @ k.transpose(-2, -1) / math.sqrt(d_k)  # [..., T_q, T_k]: the variance of q.k is d_k
    if mask is not None:
        if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
            raise ValueError(f"mask must be a bool tensor (True = may attend), got "
                             f"{getattr(mask, 'dtype', type(mask).__name__)}")
        shape = (*lead, q.shape[-2], k.shape[-2])
        try:
            ok = torch.broadcast_shapes(mask.shape, shape) == torch.Size(shape)
        except RuntimeError:
            ok = False
        if not ok:
            raise ValueError(f"mask of shape {tuple(mask.shape)} does not broadcast to the scores {shape}")
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)  # over the keys
    if mask is not None:
        weights = weights.masked_fill(~mask, 0.0)  # a fully masked row (all -inf) is NaN: make it 0
    return weights @ v, weights


def _split_heads(x: torch.Tensor, n_heads: int) -> torch.Tensor:
    """[..., T, d_model] -> [..., H, T, d_model / H]"""
    *lead, t, d = x.shape
    return x.reshape(*lead, t, n_heads, d // n_heads).transpose(-3, -2)


def _merge_heads(x: torch.Tensor) -> torch.Tensor:
    """[..., H, T, d_head] -> [..., T, H * d_head]"""
    *lead, h, t, dh = x.shape
    return x.transpose(-3, -2).reshape(*lead, t, h * dh)


def multi_head_attention(x: torch.Tensor, w_q: torch.Tensor, w_k: torch.Tensor, w_v: torch.Tensor,
                         w_o: torch.Tensor, n_heads: int, causal: bool = True) -> torch.Tensor:
    """Self-attention of x [..., T, d_model] with n_heads heads; weights [d_model, d_model] applied as x @ W."""
    _check_float("x", x)
    d_model = x.shape[-1]
    if isinstance(n_heads, bool) or not isinstance(n_heads, int) or n_heads < 1 or d_model % n_heads:
        raise ValueError(f"n_heads must be a positive int dividing d_model={d_model}, got {n_heads!r}")
    for name, w in (("w_q", w_q), ("w_k", w_k), ("w_v", w_v), ("w_o", w_o)):
        if not isinstance(w, torch.Tensor) or tuple(w.shape) != (d_model, d_model):
            raise ValueError(f"{name} must have shape [d_model, d_model] = [{d_model}, {d_model}], got "
                             f"{tuple(getattr(w, 'shape', ()))}")
        if w.dtype != x.dtype:
            raise ValueError(f"{name} has dtype {w.dtype} but x has {x.dtype}")
    q, k, v = (_split_heads(x @ w, n_heads) for w in (w_q, w_k, w_v))  # each [..., H, T, d_head]
    t = x.shape[-2]
    mask = torch.ones(t, t, dtype=torch.bool).tril() if causal else None  # [T, T], True = may attend
    out, _ = scaled_dot_product_attention(q, k, v, mask)  # every head sees every (allowed) token
    return _merge_heads(out) @ w_o  # [..., T, d_model]


def dot_product_std(d_k: int, scaled: bool, n_samples: int, generator: torch.Generator) -> float:
    """Empirical std of q.k (times 1/sqrt(d_k) if scaled) for q, k with i.i.d. standard-normal entries."""
    if isinstance(d_k, bool) or not isinstance(d_k, int) or d_k < 1:
        raise ValueError(f"d_k must be a positive int, got {d_k!r}")
    if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 2:
        raise ValueError(f"n_samples must be an int >= 2, got {n_samples!r}")
    if not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    q, k = torch.randn(2, n_samples, d_k, generator=generator, dtype=torch.float64)  # each [n_samples, d_k]
    dots = (q * k).sum(-1)  # each term has variance 1, so the sum has variance d_k
    if scaled:
        dots = dots / math.sqrt(d_k)
    return float(dots.std())
