"""Q23 reference: a preallocated KV cache and one decoding step of attention over it.

Shapes: B batch, Hkv key/value heads, Hq query heads (a multiple of Hkv), t new positions, D head dim.
"""
from __future__ import annotations

import math

import torch


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


class KVCache:
    """Keys and values of every layer, preallocated: [n_layers, B, Hkv, max_len, D] each.

    Every layer keeps its own fill; append(layer, ...) writes at that layer's fill.
    .length is the number of positions cached in layer 0.
    """

    def __init__(self, n_layers: int, batch: int, n_kv_heads: int, max_len: int, head_dim: int,
                 dtype: torch.dtype = torch.float32):
        for name, value in (("n_layers", n_layers), ("batch", batch), ("n_kv_heads", n_kv_heads),
                            ("max_len", max_len), ("head_dim", head_dim)):
            _positive_int(name, value)
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise ValueError(f"dtype must be a floating torch dtype, got {dtype!r}")
        self.n_layers, self.batch, self.n_kv_heads = n_layers, batch, n_kv_heads
        self.max_len, self.head_dim, self.dtype = max_len, head_dim, dtype
        shape = (n_layers, batch, n_kv_heads, max_len, head_dim)
        self.k = torch.zeros(shape, dtype=dtype)  # written in place, never re-allocated
        self.v = torch.zeros(shape, dtype=dtype)
        self.lengths = [0] * n_layers  # positions filled, per layer

    @property
    def length(self) -> int:
        return self.lengths[0]

    def _fill(self, layer: int) -> int:
        self._check_layer(layer)
        return self.lengths[layer]

    def _check_layer(self, layer) -> None:
        if isinstance(layer, bool) or not isinstance(layer, int) or not 0 <= layer < self.n_layers:
            raise ValueError(f"layer must be an int in [0, {self.n_layers}), got {layer!r}")

    def append(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Write k, v [B, Hkv, t, D] after the layer's cached positions; return its k_all, v_all [B, Hkv, L, D]."""
        self._check_layer(layer)
        for name, x in (("k", k), ("v", v)):
            if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[0] != self.batch \
                    or x.shape[1] != self.n_kv_heads or x.shape[3] != self.head_dim:
                got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
                raise ValueError(f"{name} must have shape [B={self.batch}, Hkv={self.n_kv_heads}, t, "
                                 f"D={self.head_dim}], got {got}")
            if x.dtype != self.dtype:
                raise ValueError(f"{name} has dtype {x.dtype} but the cache holds {self.dtype}")
        if v.shape != k.shape:
            raise ValueError(f"v must have the same shape as k {tuple(k.shape)}, got {tuple(v.shape)}")
        start = self.lengths[layer]
        end = start + k.shape[2]
        if end > self.max_len:
            raise ValueError(f"appending {k.shape[2]} positions to layer {layer} holding {start} overflows "
                             f"max_len={self.max_len}")
        self.k[layer, :, :, start:end] = k  # O(t) write into the preallocated buffer
        self.v[layer, :, :, start:end] = v
        self.lengths[layer] = end
        return self.k[layer, :, :, :end], self.v[layer, :, :, :end]  # views, no copy


def attend_one_step(q_t: torch.Tensor, cache: KVCache, layer: int) -> torch.Tensor:
    """Attention of the new queries q_t [B, Hq, t, D] over the layer's cache (their own k/v already appended).

    Query i sits at absolute position L - t + i (L = positions cached in the layer) and sees keys 0 .. L - t + i.
    Query head h uses kv head h // (Hq // Hkv). Returns [B, Hq, t, D].
    """
    length = cache._fill(layer)  # also checks the layer index
    if not isinstance(q_t, torch.Tensor) or q_t.dim() != 4:
        got = tuple(q_t.shape) if isinstance(q_t, torch.Tensor) else type(q_t).__name__
        raise ValueError(f"q_t must have shape [B, Hq, t, D], got {got}")
    b, hq, t, d = q_t.shape
    hkv = cache.n_kv_heads
    if b != cache.batch or d != cache.head_dim:
        raise ValueError(f"q_t {tuple(q_t.shape)} does not match the cache (B={cache.batch}, D={cache.head_dim})")
    if hq % hkv:
        raise ValueError(f"q_t has {hq} heads, not a multiple of the cache's {hkv} kv heads")
    if t > length:
        raise ValueError(f"q_t has {t} positions but layer {layer} holds only {length}: append k/v first")
    if q_t.dtype != cache.dtype:
        raise ValueError(f"q_t has dtype {q_t.dtype} but the cache holds {cache.dtype}")
    k = cache.k[layer, :, :, :length].unsqueeze(2)  # [B, Hkv, 1, L, D]
    v = cache.v[layer, :, :, :length].unsqueeze(2)
    q = q_t.reshape(b, hkv, hq // hkv, t, d)  # query head h = kv_head * group + g
    scores = q @ k.transpose(-2, -1) / math.sqrt(d)  # [B, Hkv, group, t, L]
    i = torch.arange(t).unsqueeze(1)
    j = torch.arange(length).unsqueeze(0)
    mask = j <= length - t + i  # [t, L], aligned to the end
    weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
    return (weights @ v).reshape(b, hq, t, d)
