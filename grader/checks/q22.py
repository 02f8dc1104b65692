"""Q22 checks, shared by the self-check and the hidden suite.

Oracles are torch built-ins only: torch.nn.functional.scaled_dot_product_attention gives the output,
and the same call with v = identity gives the attention weights (weights @ I = weights).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .core import assert_close, assert_number, assert_shape, fail, tol


def torch_attention(q, k, v, mask=None):
    """(out, weights) from torch's fused attention; rows that are fully masked are set to 0."""
    eye = torch.eye(k.shape[-2], dtype=q.dtype).expand(*k.shape[:-1], k.shape[-2])
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    weights = F.scaled_dot_product_attention(q, k, eye, attn_mask=mask)
    if mask is not None:  # older torch versions return NaN on fully masked rows
        empty = ~mask.any(-1, keepdim=True)
        out, weights = out.masked_fill(empty, 0.0), weights.masked_fill(empty, 0.0)
    return out, weights


def _pair(result, what):
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        fail(f"{what} should return a pair (out, weights), got {type(result).__name__}")
    return result


def matches_torch(sdpa, q, k, v, mask=None, *, what: str = "scaled_dot_product_attention") -> None:
    """out and weights equal torch's scaled_dot_product_attention (1/sqrt(d_k) scaling, True = attend)."""
    out, weights = _pair(sdpa(q, k, v, mask), what)
    want_out, want_w = torch_attention(q, k, v, mask)
    example = f"q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)}, mask " \
              f"{None if mask is None else tuple(mask.shape)}, {q.dtype}"
    assert_close(weights, want_w, f"{what}: weights", example=example,
                 hint="weights = softmax(q @ k^T / sqrt(d_k)) over the keys (the last dim)")
    assert_close(out, want_out, f"{what}: out", example=example, hint="out = weights @ v")


def weights_are_distributions(sdpa, q, k, v, mask=None) -> None:
    """Each query's weights are >= 0, 0 where masked, and sum to 1; a fully masked row gives 0 weights and 0 output."""
    out, weights = _pair(sdpa(q, k, v, mask), "scaled_dot_product_attention")
    lead = torch.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    assert_shape(weights, (*lead, q.shape[-2], k.shape[-2]), "weights")
    assert_shape(out, (*lead, q.shape[-2], v.shape[-1]), "out")
    if bool(torch.isnan(weights).any()) or bool(torch.isnan(out).any()):
        fail("the attention has NaN values" + (" (a query whose keys are all masked must give 0 weights and "
                                                 "0 output, not the NaN of softmax over all -inf)" if mask is not None else ""))
    if bool((weights < 0).any()):
        fail("some attention weights are negative")
    allowed = torch.ones(weights.shape, dtype=torch.bool) if mask is None else mask.expand(weights.shape)
    if bool((weights.masked_select(~allowed) != 0).any()):
        fail("a masked position has a non-zero weight", hint="True in the mask means 'may attend'")
    live = allowed.any(-1)
    sums = weights.sum(-1)
    rtol, atol = tol(q.dtype)
    ones = torch.ones_like(sums)
    assert_close(sums[live], ones[live], "sum of each (not fully masked) query's weights over the keys",
                 rtol=rtol, atol=atol, hint="softmax over the keys: dim=-1")
    if bool((~live).any()):
        assert_close(sums[~live], torch.zeros_like(sums[~live]), "sum of a fully masked query's weights")
        assert_close(out[~live], torch.zeros_like(out[~live]), "output of a fully masked query")


def heads_oracle(x, w_q, w_k, w_v, w_o, n_heads, causal):
    """Multi-head attention one head at a time: head h uses columns h*d_head:(h+1)*d_head of w_q, w_k, w_v."""
    d_head = x.shape[-1] // n_heads
    heads = []
    for h in range(n_heads):
        cols = slice(h * d_head, (h + 1) * d_head)
        q, k, v = x @ w_q[:, cols], x @ w_k[:, cols], x @ w_v[:, cols]
        heads.append(F.scaled_dot_product_attention(q, k, v, is_causal=causal))
    return torch.cat(heads, dim=-1) @ w_o


def mha_matches_heads(mha, x, w_q, w_k, w_v, w_o, n_heads, causal) -> None:
    got = mha(x, w_q, w_k, w_v, w_o, n_heads, causal=causal)
    want = heads_oracle(x, w_q, w_k, w_v, w_o, n_heads, causal)
    assert_close(got, want, f"multi_head_attention(x {tuple(x.shape)}, n_heads={n_heads}, causal={causal})",
                 hint="x @ W (weights are [in, out]); head h owns columns h*d_head:(h+1)*d_head of the "
                      "projection: reshape to [..., T, H, d_head] then transpose to [..., H, T, d_head]")


def sampled_std(d_k: int, scaled: bool, n_samples: int, generator: torch.Generator) -> float:
    """The statement's definition, step by step: the oracle for a seeded comparison.

    q, k = torch.randn(2, n_samples, d_k) in float64 from ``generator`` (for n_samples * d_k a multiple of
    16 that is the same numbers as q, then k, each drawn as torch.randn(n_samples, d_k)); the std of the
    n_samples dot products q.k (divided by sqrt(d_k) if scaled).
    """
    q, k = torch.randn(2, n_samples, d_k, generator=generator, dtype=torch.float64)  # each [n_samples, d_k]
    dots = (q * k).sum(-1)
    if scaled:
        dots = dots / math.sqrt(d_k)
    return float(dots.std())


def std_matches_samples(dot_product_std, d_k: int, scaled: bool, n_samples: int, seed: int,
                        calls: int = 2) -> None:
    """dot_product_std is the std of real samples drawn from the generator it is given: on ``calls``
    successive calls with one generator it equals the std of exactly the samples the statement's draw
    gives (each call draws new ones). A formula such as sqrt(d_k), with or without jitter, cannot pass.

    The tolerance, 1 / n_samples relative, admits the biased std (a factor sqrt(1 - 1/n)) and rounding,
    and is far below the sampling noise (about sqrt(2 / n) / 2) that a formula would have to hit.
    """
    mine, theirs = torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed)
    for call in range(1, calls + 1):
        got = dot_product_std(d_k, scaled, n_samples, mine)
        want = sampled_std(d_k, scaled, n_samples, theirs)
        assert_number(got, want, f"dot_product_std(d_k={d_k}, scaled={scaled}, n_samples={n_samples}), "
                      f"call {call} with one generator seeded {seed}", rel=1.0 / n_samples,
                      hint="draw q, k = torch.randn(2, n_samples, d_k, generator=generator, dtype=torch.float64) "
                           "on every call (the generator moves on) and return the std of the n_samples dot "
                           "products q.k, divided by sqrt(d_k) if scaled")


def std_tolerance(d_k: int, n_samples: int) -> float:
    """Relative tolerance of 6 standard errors for the sample std of q.k.

    With i.i.d. N(0, 1) entries each term q_i k_i has variance 1 and fourth moment 9, so
    E[(q.k)^4] = 3 d^2 + 6 d and Var(sample variance) ~ (2 d^2 + 6 d) / n; the relative standard error
    of the sample std is about sqrt((2 + 6 / d) / n) / 2.
    """
    return 6 * math.sqrt((2 + 6 / d_k) / n_samples) / 2


def std_is_right(dot_product_std, d_k: int, scaled: bool, n_samples: int, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    got = dot_product_std(d_k, scaled, n_samples, g)
    want = 1.0 if scaled else math.sqrt(d_k)
    rel = std_tolerance(d_k, n_samples)
    assert_number(got, want, f"dot_product_std(d_k={d_k}, scaled={scaled}, n_samples={n_samples})", rel=rel,
                  hint="q.k sums d_k products of variance 1, so its std is sqrt(d_k); dividing by sqrt(d_k) "
                       "brings it back to 1")


def std_is_seeded(dot_product_std, d_k: int = 8, n_samples: int = 500) -> None:
    a = dot_product_std(d_k, False, n_samples, torch.Generator().manual_seed(123))
    b = dot_product_std(d_k, False, n_samples, torch.Generator().manual_seed(123))
    c = dot_product_std(d_k, False, n_samples, torch.Generator().manual_seed(124))
    assert_number(b, float(a), "dot_product_std twice with the same generator seed", rel=0.0,
                  hint="draw every random number from the generator argument")
    if float(a) == float(c):
        fail("dot_product_std gave the same value for generator seeds 123 and 124",
             hint="draw the random numbers from the generator argument, do not reseed")
    g = torch.Generator().manual_seed(123)
    first = dot_product_std(d_k, False, n_samples, g)
    second = dot_product_std(d_k, False, n_samples, g)  # the generator has moved on: new samples
    if float(first) == float(second):
        fail("dot_product_std gave the same value twice in a row with one generator (seeded once): the second "
             "call should draw new samples from where the first left the generator",
             hint="draw from the generator itself (torch.randn(..., generator=generator)), not from a copy of it "
                  "or from a generator or global RNG re-seeded with its seed")
