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


def batch_norm(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Batch norm with training statistics. x [N, C, *spatial] (e.g. [N, C], [N, C, L], [N, C, H, W]).

    gamma, beta: [C]. Returns the same shape and dtype as x.
    For each channel c: mean and BIASED variance of x[:, c, ...] over N and all spatial dims, then
    y = (x - mean) / sqrt(var + eps) * gamma[c] + beta[c].
    Only one value per channel (e.g. x [1, C]) is a ValueError, as in torch's training mode.
    Bad shapes (x with fewer than 2 dims, gamma/beta not [C]) and eps < 0 are ValueErrors.
    """
    raise NotImplementedError


def layer_norm(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Layer norm over the last dim. x [..., D]; gamma, beta [D]. Returns the same shape and dtype as x.

    Each vector x[..., :] is normalised by its own mean and BIASED variance over D:
    y = (x - mean) / sqrt(var + eps) * gamma + beta.  Bad shapes and eps < 0 are ValueErrors.
    """
    raise NotImplementedError


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """RMSNorm over the last dim. x [..., D]; weight [D]. Returns the same shape and dtype as x.

    y = x / sqrt(mean(x**2 over D) + eps) * weight  -- eps INSIDE the square root, no mean, no bias.
    Bad shapes and eps < 0 are ValueErrors.
    """
    raise NotImplementedError
