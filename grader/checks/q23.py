"""Q23 checks, shared by the self-check and the hidden suite.

The oracle is full causal attention over the whole sequence, written with plain torch ops; decoding
through the candidate's cache must reproduce its rows. The cache object may live in another process:
it is only used through its methods and attributes, and its results are plain tensors and ints.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch

from .core import assert_close, assert_equal, fail


def full_causal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """q [B, Hq, T, D], k/v [B, Hkv, T, D] -> [B, Hq, T, D]; query head h uses kv head h // (Hq // Hkv)."""
    group = q.shape[1] // k.shape[1]
    k = k.repeat_interleave(group, dim=1)
    v = v.repeat_interleave(group, dim=1)
    t = q.shape[2]
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    scores = scores.masked_fill(~torch.ones(t, t, dtype=torch.bool).tril(), float("-inf"))
    return torch.softmax(scores, dim=-1) @ v


def random_qkv(n_layers, batch, n_q_heads, n_kv_heads, total, head_dim, dtype, seed):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(batch, n_q_heads, total, head_dim, generator=g, dtype=dtype),
             torch.randn(batch, n_kv_heads, total, head_dim, generator=g, dtype=dtype),
             torch.randn(batch, n_kv_heads, total, head_dim, generator=g, dtype=dtype)) for _ in range(n_layers)]


def decode_matches_full(KVCache, attend_one_step, *, chunks: Sequence[int], batch: int = 2, n_q_heads: int = 2,
                        n_kv_heads: int = 2, head_dim: int = 8, n_layers: int = 2, dtype=torch.float64,
                        seed: int = 0, spare: int = 3, reverse_layers: bool = False) -> None:
    """Feed the sequence through the cache in `chunks` (e.g. [5, 1, 1, 3]: a prefill, then decoding).

    After each chunk, for every layer: append returns everything cached so far; attend_one_step on the
    chunk's queries equals those rows of full causal attention; .length counts the cached positions.
    With reverse_layers the layers are fed last to first, so while a layer attends, layer 0 (what .length
    counts) still holds fewer positions than it: attention must use the layer's own fill.
    """
    total = sum(chunks)
    data = random_qkv(n_layers, batch, n_q_heads, n_kv_heads, total, head_dim, dtype, seed)
    full = [full_causal_attention(q, k, v) for q, k, v in data]
    cache = KVCache(n_layers, batch, n_kv_heads, total + spare, head_dim, dtype)
    setup = (f"KVCache(n_layers={n_layers}, batch={batch}, n_kv_heads={n_kv_heads}, max_len={total + spare}, "
             f"head_dim={head_dim}, dtype={dtype}), Hq={n_q_heads}, chunks {list(chunks)}"
             + (", layers fed last to first" if reverse_layers else ""))
    assert_equal(cache.length, 0, f"{setup}: .length of a new cache")
    start = 0
    for chunk in chunks:
        end = start + chunk
        order = list(enumerate(data))
        for layer, (q, k, v) in (reversed(order) if reverse_layers else order):
            step = f"{setup}: layer {layer}, positions {start}..{end - 1}"
            result = cache.append(layer, k[:, :, start:end], v[:, :, start:end])
            if not isinstance(result, (tuple, list)) or len(result) != 2:
                fail(f"{step}: append should return (k_all, v_all), got {type(result).__name__}")
            k_all, v_all = result
            assert_close(k_all, k[:, :, :end], f"{step}: k_all returned by append", rtol=0, atol=0,
                         hint="k_all is every key cached in this layer so far: [B, Hkv, length, D]")
            assert_close(v_all, v[:, :, :end], f"{step}: v_all returned by append", rtol=0, atol=0)
            out = attend_one_step(q[:, :, start:end], cache, layer)
            assert_close(out, full[layer][:, :, start:end], f"{step}: attend_one_step",
                         hint="query i of the chunk sits at absolute position L - t + i and sees keys "
                              "0 .. L - t + i, L = the positions cached in THIS layer (not .length, which "
                              "counts layer 0); query head h uses kv head h // (Hq // Hkv)")
        assert_equal(cache.length, end, f"{setup}: .length after positions 0..{end - 1} were appended")
        start = end
