"""Q21 property checks, shared by the self-check and the hidden suite."""
from __future__ import annotations

import math

import torch

from .core import assert_close, fail


def causal_attention(causal_mask, masked_scores, q, k, v):
    """Attention built on the candidate's mask functions: q [..., t_q, D], k/v [..., t_k, D]."""
    t_q, t_k = q.shape[-2], k.shape[-2]
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    weights = torch.softmax(masked_scores(scores, causal_mask(t_q, t_k)), dim=-1)
    return weights @ v


def no_future_leak(causal_mask, masked_scores, *, t: int, d: int, seed: int, dtype=torch.float64) -> None:
    """Perturbing tokens after position p never changes the outputs at positions <= p."""
    g = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(2, t, d, generator=g, dtype=dtype) for _ in range(3))
    out = causal_attention(causal_mask, masked_scores, q, k, v)
    if bool(torch.isnan(out).any()):
        row = int(torch.isnan(out).any(-1).any(0).nonzero()[0])
        fail(f"attention built on your mask gives NaN at position {row}: that query has no allowed key",
             hint="the diagonal must be allowed (j <= past_len + i): every token may attend to itself")
    for p in range(t - 1):
        q2, k2, v2 = q.clone(), k.clone(), v.clone()
        for x in (q2, k2, v2):
            x[:, p + 1:] += 10 * torch.randn(x[:, p + 1:].shape, generator=g, dtype=dtype)
        out2 = causal_attention(causal_mask, masked_scores, q2, k2, v2)
        if not torch.allclose(out[:, :p + 1], out2[:, :p + 1], rtol=0, atol=1e-12):
            fail(f"information leaks from the future: changing tokens after position {p} changed the "
                 f"attention output at positions 0..{p} (T={t})",
                 hint="query i may only attend keys j <= i (plus past_len when decoding)")
        if p == 0 and t > 2 and torch.allclose(out[:, 1:], out2[:, 1:], rtol=0, atol=1e-9):
            fail("changing token 1 changed nothing at later positions: the mask blocks the past too")


def decoding_rows_match_training(causal_mask, *, t: int) -> None:
    """The rectangular mask for the last t_q queries equals the last rows of the square mask."""
    full = causal_mask(t)
    for t_q in range(1, t + 1):
        assert_close(causal_mask(t_q, t), full[t - t_q:], f"causal_mask({t_q}, {t})",
                     hint="with a cache, the t_q new queries are the LAST t_q rows of the square mask")
