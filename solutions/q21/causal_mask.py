"""Q21 reference: the causal mask (True = may attend)."""
from __future__ import annotations

import torch


def causal_mask(t_q: int, t_k: int | None = None, past_len: int | None = None) -> torch.Tensor:
    """BoolTensor [t_q, t_k]: query i (absolute position past_len + i) may attend key j iff j <= past_len + i."""
    for name, value in (("t_q", t_q), ("t_k", t_k), ("past_len", past_len)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise ValueError(f"{name} must be a non-negative int, got {value!r}")
    if t_k is None:
        t_k = t_q
    if past_len is None:
        if t_k < t_q:
            raise ValueError(f"t_k ({t_k}) < t_q ({t_q}) needs an explicit past_len")
        past_len = t_k - t_q
    i = torch.arange(t_q).unsqueeze(1)  # [t_q, 1]
    j = torch.arange(t_k).unsqueeze(0)  # [1, t_k]
    return j <= past_len + i


def masked_scores(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """scores [..., t_q, t_k] with disallowed positions (mask False) set to -inf; a new tensor."""
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
        raise ValueError(f"mask must be a bool tensor (True = may attend), got {getattr(mask, 'dtype', type(mask))}")
    try:
        torch.broadcast_shapes(mask.shape, scores.shape)
    except RuntimeError:
        raise ValueError(f"mask of shape {tuple(mask.shape)} does not broadcast to scores "
                         f"{tuple(scores.shape)}") from None
    return scores.masked_fill(~mask, float("-inf"))
