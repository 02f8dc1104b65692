"""Q35 property checks, shared by the self-check and the hidden suite.

The oracle is the definition: grouped-query attention equals ordinary multi-head attention after each
kv head is repeated for the consecutive query heads of its group (torch.repeat_interleave).
"""
from __future__ import annotations

import math
import re

import torch

from .core import assert_close, expect_value_error, fail

# What a message may name to say what is wrong with a shape: an argument, a dim, a head count (whole
# words, so "k" matches "k.shape" or "k (2, 4, 4, 8)" but not "keys"; any one of them will do).
SHAPE_WORDS = ("q", "k", "v", "query", "queries", "key", "keys", "value", "values", "k_proj", "causal", "head",
               "heads", "n_heads", "n_kv_heads", "hq", "hkv", "kv", "group", "groups", "multiple", "divisible",
               "divide", "divides", "shape", "shapes", "dim", "dims", "dimension", "dimensions", "ndim", "rank",
               "size", "sizes", "batch", "leading", "length", "t", "t_q", "t_k", "tq", "tk", "d", "head_dim", "seq",
               "seq_len", "match", "same", "equal")
_WORD = re.compile(r"[a-z_]+")


def expect_shape_error(fn, *args, what: str, **kwargs) -> None:
    """``fn(*args)`` must raise ValueError whose message names what is wrong (any of SHAPE_WORDS)."""
    seen = {}

    def call(*a, **k):
        try:
            return fn(*a, **k)
        except ValueError as e:
            seen["message"] = str(e)
            raise

    expect_value_error(call, *args, what=what, **kwargs)
    words = set(_WORD.findall(seen.get("message", "").lower()))
    if not words & set(SHAPE_WORDS):
        fail(f"{what}: raised ValueError({seen.get('message', '')!r}), but the message should say what is wrong "
             f"(name the argument, e.g. k, or the dims / head counts that do not fit)")


def naive_attention(q, k, v, causal: bool) -> torch.Tensor:
    """Multi-head attention, same heads for q and k/v: [..., H, Tq, D] x [..., H, Tk, D]; causal queries are
    the last Tq positions."""
    t_q, t_k = q.shape[-2], k.shape[-2]
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if causal:
        allowed = torch.arange(t_k)[None, :] <= (t_k - t_q) + torch.arange(t_q)[:, None]
        scores = scores.masked_fill(~allowed, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v


def random_qkv(seed: int, lead: tuple, n_heads: int, n_kv: int, t_q: int, t_k: int, d: int, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(*lead, n_heads, t_q, d, generator=g, dtype=torch.float64).to(dtype)
    k = torch.randn(*lead, n_kv, t_k, d, generator=g, dtype=torch.float64).to(dtype)
    v = torch.randn(*lead, n_kv, t_k, d, generator=g, dtype=torch.float64).to(dtype)
    return q, k, v


def equals_repeated_mha(gqa_attention, q, k, v, *, causal: bool) -> None:
    """gqa_attention(q, k, v) == MHA with kv head j repeated for query heads j*g .. j*g+g-1."""
    n_heads, n_kv = q.shape[-3], k.shape[-3]
    group = n_heads // n_kv
    call = (f"gqa_attention(q {tuple(q.shape)}, k/v {tuple(k.shape)}, causal={causal})"
            + ("" if q.dtype == torch.float64 else f" in {q.dtype}"))
    before = [x.clone() for x in (q, k, v)]
    got = gqa_attention(q, k, v, causal=causal)
    for name, b, x in zip("qkv", before, (q, k, v)):
        if not torch.equal(b, x):
            fail(f"{call} changed {name} in place; functions must not modify their inputs")
    wide = [x.to(torch.float64) for x in (q, k, v)]
    expected = naive_attention(wide[0], wide[1].repeat_interleave(group, dim=-3),
                               wide[2].repeat_interleave(group, dim=-3), causal).to(q.dtype)
    if group > 1 and n_kv > 1 and isinstance(got, torch.Tensor) and got.shape == expected.shape:
        tiled = naive_attention(wide[0], torch.cat([wide[1]] * group, dim=-3), torch.cat([wide[2]] * group, dim=-3),
                                causal).to(q.dtype)
        if torch.allclose(got.to(torch.float64), tiled.to(torch.float64), rtol=1e-4, atol=1e-4):
            fail(f"{call} pairs query head h with kv head h % {n_kv} (interleaved); query head h must use kv head "
                 f"h // {group}, so heads 0..{group - 1} share kv head 0",
                 hint="k.repeat_interleave(group, dim=-3), not k.repeat(...) / torch.cat([k] * group)")
    assert_close(got, expected, call,
                 hint=f"repeat each kv head for its {group} consecutive query heads, then ordinary attention: "
                      "softmax(q k^T / sqrt(D), causal queries at the end) v")


def no_future_leak(gqa_attention, *, n_heads: int, n_kv: int, t: int, d: int, seed: int) -> None:
    """Causal: changing keys/values at positions > p never changes outputs at positions <= p (after the
    outputs are the right values: an answer that ignores its inputs would never leak either)."""
    q, k, v = random_qkv(seed, (2,), n_heads, n_kv, t, t, d)
    equals_repeated_mha(gqa_attention, q, k, v, causal=True)
    out = gqa_attention(q, k, v, causal=True)
    g = torch.Generator().manual_seed(seed + 1)
    for p in range(t - 1):
        k2, v2 = k.clone(), v.clone()
        k2[..., p + 1:, :] += 5 * torch.randn(k2[..., p + 1:, :].shape, generator=g, dtype=k.dtype)
        v2[..., p + 1:, :] += 5 * torch.randn(v2[..., p + 1:, :].shape, generator=g, dtype=v.dtype)
        out2 = gqa_attention(q, k2, v2, causal=True)
        if not torch.allclose(out[..., :p + 1, :], out2[..., :p + 1, :], rtol=0, atol=1e-12):
            fail(f"gqa_attention(causal=True) leaks the future: changing keys/values after position {p} changed "
                 f"the outputs at positions 0..{p}", hint="mask scores where key position > query position with -inf")


def pooled_consecutive_groups(mha_to_gqa, k_proj: torch.Tensor, n_kv_heads: int) -> None:
    """mha_to_gqa(k_proj, n_kv) row j is the mean of heads j*g .. j*g+g-1 (g = H / n_kv)."""
    group = k_proj.shape[0] // n_kv_heads
    before = k_proj.clone()
    got = mha_to_gqa(k_proj, n_kv_heads)
    if not torch.equal(before, k_proj):
        fail("mha_to_gqa changed k_proj in place; functions must not modify their inputs")
    expected = torch.stack([k_proj[j * group:(j + 1) * group].mean(dim=0) for j in range(n_kv_heads)])
    assert_close(got, expected, f"mha_to_gqa(k_proj {tuple(k_proj.shape)}, n_kv_heads={n_kv_heads})",
                 hint=f"kv head j is the mean of the {group} CONSECUTIVE heads j*{group} .. j*{group}+{group - 1} "
                      "(dim 0 is the heads)")
