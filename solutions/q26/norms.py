"""Q26 reference: BatchNorm (training statistics), LayerNorm, RMSNorm.

x is normalised, then scaled and shifted per feature: y = x_hat * gamma + beta.
- batch_norm: statistics per channel (dim 1) over every other dim (batch and positions), as torch.
- layer_norm: statistics per token over the last dim.
- rms_norm:   no mean; divide by sqrt(mean(x^2) + eps) over the last dim (eps inside the root).
Variances are biased (divide by the count), as torch's normalisation layers do.
"""
from __future__ import annotations

import math

import torch


def _describe(x) -> str:
    return f"shape {tuple(x.shape)}" if isinstance(x, torch.Tensor) else type(x).__name__


def _check_eps(eps) -> None:
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not 0 <= eps < math.inf:
        raise ValueError(f"eps must be a non-negative number, got {eps!r}")


def _check_vector(name: str, p, size: int, what: str) -> None:
    if not isinstance(p, torch.Tensor) or tuple(p.shape) != (size,):
        got = tuple(p.shape) if isinstance(p, torch.Tensor) else type(p).__name__
        raise ValueError(f"{name} must have shape ({size},) (one value per {what}), got {got}")


def batch_norm(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """x [N, C, *spatial] -> same shape; per-channel mean and biased variance over N and all spatial dims."""
    if not isinstance(x, torch.Tensor) or x.dim() < 2:
        raise ValueError(f"x must be a tensor [N, C, ...] with at least 2 dims, got {_describe(x)}")
    c = x.shape[1]
    _check_vector("gamma", gamma, c, "channel (dim 1 of x)")
    _check_vector("beta", beta, c, "channel (dim 1 of x)")
    _check_eps(eps)
    if c > 0 and x.numel() // c == 1:
        raise ValueError(f"x of shape {tuple(x.shape)} has only 1 value per channel: batch statistics need "
                         f"more than 1 value per channel in training (torch raises here too)")
    dims = [0] + list(range(2, x.dim()))                    # every dim except the channels
    mean = x.mean(dim=dims, keepdim=True)                   # [1, C, 1, ...]
    var = ((x - mean) ** 2).mean(dim=dims, keepdim=True)    # [1, C, 1, ...] biased
    x_hat = (x - mean) / torch.sqrt(var + eps)
    shape = [1, c] + [1] * (x.dim() - 2)                    # gamma/beta broadcast along dim 1
    return x_hat * gamma.reshape(shape) + beta.reshape(shape)


def layer_norm(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """x [..., D] -> same shape; each vector x[..., :] normalised by its own mean and biased variance."""
    if not isinstance(x, torch.Tensor) or x.dim() < 1 or x.shape[-1] == 0:
        raise ValueError(f"x must be a tensor [..., D] with D >= 1, got {_describe(x)}")
    d = x.shape[-1]
    _check_vector("gamma", gamma, d, "feature (last dim of x)")
    _check_vector("beta", beta, d, "feature (last dim of x)")
    _check_eps(eps)
    mean = x.mean(dim=-1, keepdim=True)                     # [..., 1]
    var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)      # [..., 1] biased
    return (x - mean) / torch.sqrt(var + eps) * gamma + beta


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """x [..., D] -> same shape; x / sqrt(mean(x^2) + eps) * weight, no mean subtracted, no bias."""
    if not isinstance(x, torch.Tensor) or x.dim() < 1 or x.shape[-1] == 0:
        raise ValueError(f"x must be a tensor [..., D] with D >= 1, got {_describe(x)}")
    _check_vector("weight", weight, x.shape[-1], "feature (last dim of x)")
    _check_eps(eps)
    ms = (x * x).mean(dim=-1, keepdim=True)                 # [..., 1] mean square
    return x * torch.rsqrt(ms + eps) * weight
