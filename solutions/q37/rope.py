"""Q37 reference: rotary position embeddings (both pairings) and the sinusoidal positions they replaced."""
from __future__ import annotations

import math

import torch


def _check_head_dim(head_dim, name: str = "head_dim") -> None:
    if isinstance(head_dim, bool) or not isinstance(head_dim, int) or head_dim <= 0 or head_dim % 2:
        raise ValueError(f"{name} must be a positive even int (dims are rotated in pairs), got {head_dim!r}")


def _check_base(base) -> None:
    if isinstance(base, bool) or not isinstance(base, (int, float)) or not base > 0:
        raise ValueError(f"base must be a positive number, got {base!r}")


def rope_frequencies(head_dim: int, base: float = 10000.0) -> torch.Tensor:
    """inv_freq [head_dim/2] float64: theta_i = base^(-2i/head_dim), i = 0 .. head_dim/2 - 1."""
    _check_head_dim(head_dim)
    _check_base(base)
    two_i = torch.arange(0, head_dim, 2, dtype=torch.float64)           # 0, 2, 4, ..., d-2
    return float(base) ** (-two_i / head_dim)


def apply_rope(x: torch.Tensor, positions, base: float = 10000.0, interleaved: bool = False) -> torch.Tensor:
    """Rotate each pair of x [..., T, D] by the angle position * theta_i.

    interleaved=False pairs (i, i + D/2) ("rotate_half", Llama/HF); interleaved=True pairs (2i, 2i+1)
    (RoFormer, Meta's Llama). positions: [T] or broadcastable to x.shape[:-1]. Angles in float64.
    """
    if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.dim() < 2:
        raise ValueError(f"x must be a floating-point tensor [..., T, D], got "
                         f"{x.dtype if isinstance(x, torch.Tensor) else type(x).__name__}")
    d = x.shape[-1]
    if d % 2:
        raise ValueError(f"x's head dim D must be even (dims are rotated in pairs), got D={d}")
    pos = torch.as_tensor(positions)
    if pos.is_complex() or pos.dtype == torch.bool:
        raise ValueError(f"positions must be real numbers, got {pos.dtype}")
    try:
        torch.broadcast_shapes(pos.shape, x.shape[:-1])
    except RuntimeError:
        raise ValueError(f"positions of shape {tuple(pos.shape)} do not broadcast to x's "
                         f"[..., T] = {tuple(x.shape[:-1])}") from None
    inv_freq = rope_frequencies(d, base)                                      # [D/2]
    angles = pos.to(torch.float64).unsqueeze(-1) * inv_freq                   # [..., T, D/2]
    cos, sin = torch.cos(angles).to(x.dtype), torch.sin(angles).to(x.dtype)
    if interleaved:
        x1, x2 = x[..., 0::2], x[..., 1::2]                                   # pairs (2i, 2i+1)
        out = torch.stack((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1)
        return out.flatten(-2)                                                # back to 2i, 2i+1
    x1, x2 = x[..., : d // 2], x[..., d // 2:]                                # pairs (i, i + D/2)
    return torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1)


def sinusoidal_positions(T: int, d: int) -> torch.Tensor:
    """The Transformer's absolute positions [T, d] float64: PE[p, 2i] = sin(p / 10000^(2i/d)), PE[p, 2i+1] = cos(...)."""
    if isinstance(T, bool) or not isinstance(T, int) or T < 0:
        raise ValueError(f"T must be a non-negative int, got {T!r}")
    _check_head_dim(d, "d")
    pos = torch.arange(T, dtype=torch.float64).unsqueeze(1)                   # [T, 1]
    div = 10000.0 ** (torch.arange(0, d, 2, dtype=torch.float64) / d)         # [d/2]: 10000^(2i/d)
    pe = torch.empty(T, d, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(pos / div)
    pe[:, 1::2] = torch.cos(pos / div)
    return pe


def rope_wavelengths_beyond(head_dim: int, base: float, trained_len: float) -> int:
    """How many pairs have a wavelength 2*pi/theta_i longer than trained_len (never saw a full turn)."""
    if isinstance(trained_len, bool) or not isinstance(trained_len, (int, float)) or not trained_len > 0:
        raise ValueError(f"trained_len must be a positive number, got {trained_len!r}")
    wavelengths = 2 * math.pi / rope_frequencies(head_dim, base)             # [head_dim/2], growing with i
    return int((wavelengths > trained_len).sum())
