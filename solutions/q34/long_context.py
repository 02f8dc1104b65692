"""Q34 reference: stretching RoPE from 8K to 32K (position interpolation, NTK-aware base) and the KV cache."""
from __future__ import annotations

import math

import torch


def _is_number(x) -> bool:
    return not isinstance(x, bool) and isinstance(x, (int, float)) and math.isfinite(x)


def _check_scale(scale) -> None:
    if not _is_number(scale) or scale < 1:
        raise ValueError(f"scale must be a finite number >= 1 (new length / trained length), got {scale!r}")


def interpolate_positions(positions: torch.Tensor, scale: float) -> torch.Tensor:
    """Position interpolation: positions / scale, so scale x the trained length maps inside the trained range.

    Floating positions keep their dtype; integer positions become torch's default float dtype.
    """
    if not isinstance(positions, torch.Tensor):
        raise ValueError(f"positions must be a torch.Tensor, got {type(positions).__name__}")
    _check_scale(scale)
    if not positions.is_floating_point():
        positions = positions.to(torch.get_default_dtype())
    return positions / scale


def ntk_scaled_base(base: float, scale: float, head_dim: int) -> float:
    """NTK-aware RoPE base: base * scale ** (d / (d - 2)).

    Frequency i is base ** (-2i / d): the new base leaves i = 0 (the fastest) unchanged and slows the
    slowest one (i = d/2 - 1) by exactly `scale`, i.e. interpolates it like position interpolation would.
    """
    if not _is_number(base) or base <= 0:
        raise ValueError(f"base must be a finite number > 0, got {base!r}")
    _check_scale(scale)
    if isinstance(head_dim, bool) or not isinstance(head_dim, int) or head_dim < 4 or head_dim % 2:
        raise ValueError(f"head_dim must be an even int >= 4 (RoPE rotates pairs; d/(d-2) needs d > 2), got {head_dim!r}")
    return float(base * scale ** (head_dim / (head_dim - 2)))


def kv_cache_bytes(n_layers: int, n_kv_heads: int, head_dim: int, seq_len: int, batch: int,
                   bytes_per_elem: float) -> int | float:
    """Bytes of the KV cache: 2 (K and V) * layers * kv heads * head_dim * tokens * sequences * bytes."""
    for name, value in (("n_layers", n_layers), ("n_kv_heads", n_kv_heads), ("head_dim", head_dim),
                        ("seq_len", seq_len), ("batch", batch)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a non-negative int, got {value!r}")
    if not _is_number(bytes_per_elem) or bytes_per_elem <= 0:
        raise ValueError(f"bytes_per_elem must be a number > 0 (2 for fp16, 0.5 for 4-bit), got {bytes_per_elem!r}")
    return 2 * n_layers * n_kv_heads * head_dim * seq_len * batch * bytes_per_elem
