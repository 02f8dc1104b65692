"""Q23: the KV cache. Read README.md first; run `pytest exercises/q23` to self-check.

Shapes: B batch, Hkv key/value heads, Hq query heads (a multiple of Hkv), t new positions, D head dim.
This module may not use torch.cat, torch.concat, torch.concatenate or torch.stack (see forbidden.toml).
"""
from __future__ import annotations

import math

import torch


class KVCache:
    """Keys and values of every layer, preallocated once: two buffers [n_layers, B, Hkv, max_len, D].

    Every layer keeps its own fill (how many positions it holds); append(layer, ...) writes at that
    layer's fill. The one fact: only K and V are cached -- the past keys and values are reused by
    every later query, while a query is used once, at its own step.
    """

    def __init__(self, n_layers: int, batch: int, n_kv_heads: int, max_len: int, head_dim: int,
                 dtype: torch.dtype = torch.float32):
        """Allocate the buffers (e.g. torch.zeros) now; appending never allocates a bigger cache.
        Non-positive sizes are a ValueError naming the argument."""
        raise NotImplementedError

    @property
    def length(self) -> int:
        """The number of positions cached in layer 0 (an int)."""
        raise NotImplementedError

    def append(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Write k, v [B, Hkv, t, D] into the layer's buffers right after its cached positions and
        return (k_all, v_all): everything the layer holds now, [B, Hkv, length_after, D] (views are fine).

        ValueError (naming the argument) when: layer is not in [0, n_layers); k or v does not match
        [B, Hkv, *, D] or each other; their dtype is not the cache's; the layer would hold more than
        max_len positions (then the cache is left unchanged).
        """
        raise NotImplementedError


def attend_one_step(q_t: torch.Tensor, cache: KVCache, layer: int) -> torch.Tensor:
    """Attention of the new queries q_t [B, Hq, t, D] over everything the layer has cached -> [B, Hq, t, D].

    Call it after the t new positions' k/v were appended, so the layer holds L >= t positions and query i
    sits at absolute position L - t + i: it may attend keys 0 .. L - t + i (causal, aligned to the end).
    Scores are scaled by 1/sqrt(D). Query head h uses kv head h // (Hq // Hkv); Hq not a multiple of
    Hkv, or a batch B or head dim D other than the cache's, is a ValueError.
    """
    raise NotImplementedError
