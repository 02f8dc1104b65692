"""Q26: BatchNorm, LayerNorm, RMSNorm. Read README.md first; run `pytest exercises/q26` to self-check.

All three compute  y = normalised(x) * gamma (+ beta); they differ in WHICH values share statistics:
- batch_norm: one mean/variance per channel (dim 1), over the batch and every position;
- layer_norm: one mean/variance per vector, over its last dim;
- rms_norm:   no mean at all, one root-mean-square per vector: x / sqrt(mean(x**2) + eps).
Variances are biased (divide by the count, not count - 1), as torch does. Do not use torch's norm
functions or modules here (see forbidden.toml): the point is to write the statistics yourself.
"""
from __future__ import annotations

import torch


def _check_eps(eps: float) -> None:
    if eps < 0:
        raise ValueError(f"eps must be >= 0, got {eps}")


def _check_vector(name: str, t: torch.Tensor, size: int) -> None:
    if t.dim() != 1 or t.shape[0] != size:
        raise ValueError(f"{name} must have shape [{size}], got {tuple(t.shape)}")


def batch_norm(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Batch norm with training statistics. x [N, C, *spatial] (e.g. [N, C], [N, C, L], [N, C, H, W]).

    gamma, beta: [C]. Returns the same shape and dtype as x.
    For each channel c: mean and BIASED variance of x[:, c, ...] over N and all spatial dims, then
    y = (x - mean) / sqrt(var + eps) * gamma[c] + beta[c].
    Only one value per channel (e.g. x [1, C]) is a ValueError, as in torch's training mode.
    Bad shapes (x with fewer than 2 dims, gamma/beta not [C]) and eps < 0 are ValueErrors.
    """
    _check_eps(eps)
    if x.dim() < 2:
        raise ValueError(f"x needs at least 2 dims [N, C, ...], got {tuple(x.shape)}")
    channels = x.shape[1]
    _check_vector("gamma", gamma, channels)
    _check_vector("beta", beta, channels)
    if x.numel() // channels < 2:
        raise ValueError("batch_norm needs more than one value per channel")
    reduce_over = [0] + list(range(2, x.dim()))
    centre = x.mean(dim=reduce_over, keepdim=True)
    spread = ((x - centre) ** 2).mean(dim=reduce_over, keepdim=True)
    view = [1, channels] + [1] * (x.dim() - 2)
    return (x - centre) * torch.rsqrt(spread + eps) * gamma.reshape(view) + beta.reshape(view)


def layer_norm(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Layer norm over the last dim. x [..., D]; gamma, beta [D]. Returns the same shape and dtype as x.

    Each vector x[..., :] is normalised by its own mean and BIASED variance over D:
    y = (x - mean) / sqrt(var + eps) * gamma + beta.  Bad shapes and eps < 0 are ValueErrors.
    """
    _check_eps(eps)
    if x.dim() < 1:
        raise ValueError("x must have a last dim")
    width = x.shape[-1]
    _check_vector("gamma", gamma, width)
    _check_vector("beta", beta, width)
    mu = x.mean(dim=-1, keepdim=True)
    centred = x - mu
    var = (centred * centred).mean(dim=-1, keepdim=True)
    return centred / torch.sqrt(var + eps) * gamma + beta


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """RMSNorm over the last dim. x [..., D]; weight [D]. Returns the same shape and dtype as x.

    y = x / sqrt(mean(x**2 over D) + eps) * weight  -- eps INSIDE the square root, no mean, no bias.
    Bad shapes and eps < 0 are ValueErrors.
    """
    _check_eps(eps)
    if x.dim() < 1:
        raise ValueError("x must have a last dim")
    _check_vector("weight", weight, x.shape[-1])
    mean_square = x.pow(2).mean(dim=-1, keepdim=True)
    return x * torch.rsqrt(mean_square + eps) * weight
