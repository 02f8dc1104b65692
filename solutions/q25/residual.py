"""Q25 reference: residual connections, pre-norm and post-norm blocks, and the gradient they keep alive."""
from __future__ import annotations

import math

import torch

WIDTH = 64  # d: features per row
BATCH = 8  # n: rows in the batch
GAIN = 0.5  # W_l ~ N(0, GAIN^2 / d)


def _check_x(x) -> None:
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise ValueError(f"x must be a floating-point tensor, got {getattr(x, 'dtype', type(x).__name__)}")


def _apply(fn, name: str, h: torch.Tensor) -> torch.Tensor:
    if not callable(fn):
        raise ValueError(f"{name} must be callable, got {type(fn).__name__}")
    out = fn(h)
    if not isinstance(out, torch.Tensor) or out.shape != h.shape:
        raise ValueError(f"{name} must map a tensor of shape {tuple(h.shape)} to the same shape, got "
                         f"{tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__}")
    return out


def residual(x: torch.Tensor, sublayer) -> torch.Tensor:
    """x + sublayer(x)."""
    _check_x(x)
    return x + _apply(sublayer, "sublayer", x)


def pre_norm_block(x: torch.Tensor, sublayer, norm) -> torch.Tensor:
    """x + sublayer(norm(x)): the identity path is never normalised (GPT-2, Llama)."""
    _check_x(x)
    h = _apply(norm, "norm", x)
    return x + _apply(sublayer, "sublayer", h)


def post_norm_block(x: torch.Tensor, sublayer, norm) -> torch.Tensor:
    """norm(x + sublayer(x)): the original Transformer's order."""
    _check_x(x)
    return _apply(norm, "norm", x + _apply(sublayer, "sublayer", x))


def input_grad_norm(depth: int, residual: bool, generator: torch.Generator) -> float:
    """||d(sum of outputs)/dx|| for a stack of `depth` random tanh layers, with or without residuals."""
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 0:
        raise ValueError(f"depth must be a non-negative int, got {depth!r}")
    if not isinstance(residual, bool):
        raise ValueError(f"residual must be a bool, got {residual!r}")
    if not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    d = WIDTH
    x = torch.randn(BATCH, d, generator=generator, dtype=torch.float64)  # [n, d], drawn first
    weights = [torch.randn(d, d, generator=generator, dtype=torch.float64) * (GAIN / math.sqrt(d))
               for _ in range(depth)]  # W_1 .. W_depth, [d, d] each, in order
    x.requires_grad_(True)
    h = x
    for w in weights:
        f = torch.tanh(h @ w)
        h = h + f if residual else f
    h.sum().backward()
    return float(x.grad.norm())
