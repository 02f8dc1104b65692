"""Q21: the causal mask. Read README.md first; run `pytest exercises/q21` to self-check.

Masks are boolean with True = "may attend". Query i sits at absolute position past_len + i.
"""
from __future__ import annotations

import torch


def causal_mask(t_q: int, t_k: int | None = None, past_len: int | None = None) -> torch.Tensor:
    """Return a BoolTensor [t_q, t_k]: entry (i, j) is True iff query i may attend key j.

    - t_k defaults to t_q (a square mask, as in training).
    - past_len defaults to t_k - t_q (queries are the last t_q positions, as when decoding with a cache);
      t_k < t_q without past_len is a ValueError. Negative sizes are a ValueError.
    The one fact: query i is at absolute position past_len + i and may see keys 0 .. past_len + i.
    """
    n_keys = t_q if t_k is None else t_k
    for label, size in (("t_q", t_q), ("t_k", n_keys)):
        if size < 0:
            raise ValueError(f"{label} must not be negative, got {size}")
    if past_len is None:
        if n_keys < t_q:
            raise ValueError(f"t_k ({n_keys}) < t_q ({t_q}) needs an explicit past_len")
        past_len = n_keys - t_q
    elif past_len < 0:
        raise ValueError(f"past_len must not be negative, got {past_len}")
    # absolute position of every query, compared with every key index
    query_pos = torch.arange(t_q).unsqueeze(1) + past_len
    key_pos = torch.arange(n_keys).unsqueeze(0)
    return key_pos <= query_pos


def masked_scores(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Return a copy of scores [..., t_q, t_k] with every disallowed entry (mask False) set to -inf.

    mask is a BoolTensor broadcastable to scores (a non-bool mask is a ValueError).
    Do not modify scores in place; keep its dtype.
    """
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
        raise ValueError("mask must be a bool tensor")
    blocked = torch.full_like(scores, float("-inf"))
    return torch.where(mask, scores, blocked)
