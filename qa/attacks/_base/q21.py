# A correct q21, prepended to every attack file below (the attack's own definitions come later and win).
import torch


def causal_mask(t_q, t_k=None, past_len=None):
    for name, v in (("t_q", t_q), ("t_k", t_k), ("past_len", past_len)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
            raise ValueError(f"{name} must be a non-negative int, got {v!r}")
    t_k = t_q if t_k is None else t_k
    if past_len is None:
        if t_k < t_q:
            raise ValueError(f"t_k ({t_k}) < t_q ({t_q}) needs past_len")
        past_len = t_k - t_q
    return torch.arange(t_k)[None, :] <= past_len + torch.arange(t_q)[:, None]


def masked_scores(scores, mask):
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
        raise ValueError("mask must be a bool tensor")
    return scores.masked_fill(~mask, float("-inf"))
