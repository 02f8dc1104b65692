"""Q27 reference: the position-wise feed-forward network.

Weights are [in_features, out_features] and applied as x @ W (not nn.Linear's x @ W.T).
- gelu(x, "none")  = x * Phi(x) = 0.5 * x * (1 + erf(x / sqrt(2)))
- gelu(x, "tanh")  = 0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x**3)))
- ffn:        act(x @ w1 + b1) @ w2 + b2                       (GPT-2 style, with biases)
- swiglu_ffn: (silu(x @ w_gate) * (x @ w_up)) @ w_down          (Llama style, no biases)
"""
from __future__ import annotations

import math

import torch

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


def gelu(x: torch.Tensor, approximate: str = "none") -> torch.Tensor:
    """GELU elementwise; any shape; approximate "none" (exact, erf) or "tanh"."""
    if approximate == "none":
        return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))
    if approximate == "tanh":
        return 0.5 * x * (1.0 + torch.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x ** 3)))
    raise ValueError(f'approximate must be "none" or "tanh", got {approximate!r}')


def _activate(h: torch.Tensor, activation: str) -> torch.Tensor:
    if activation == "gelu":
        return gelu(h, "none")
    return torch.relu(h)


def _check_matrix(name: str, w, rows: int, rows_what: str) -> None:
    if not isinstance(w, torch.Tensor) or w.dim() != 2 or w.shape[0] != rows:
        got = tuple(w.shape) if isinstance(w, torch.Tensor) else type(w).__name__
        raise ValueError(f"{name} must be a matrix [{rows_what}={rows}, out] (applied as x @ {name}), got {got}")


def _check_bias(name: str, b, size: int) -> None:
    if b is not None and (not isinstance(b, torch.Tensor) or tuple(b.shape) != (size,)):
        got = tuple(b.shape) if isinstance(b, torch.Tensor) else type(b).__name__
        raise ValueError(f"{name} must be None or a vector of shape ({size},), got {got}")


def _check_x(x) -> None:
    if not isinstance(x, torch.Tensor) or x.dim() < 1:
        raise ValueError("x must be a tensor [..., d_model] with at least 1 dim")


def ffn(x: torch.Tensor, w1: torch.Tensor, b1: torch.Tensor | None, w2: torch.Tensor, b2: torch.Tensor | None,
        activation: str = "gelu") -> torch.Tensor:
    """x [..., d_model], w1 [d_model, d_ff], b1 [d_ff] or None, w2 [d_ff, d_out], b2 [d_out] or None -> [..., d_out]."""
    if activation not in ("gelu", "relu"):
        raise ValueError(f'activation must be "gelu" or "relu", got {activation!r}')
    _check_x(x)
    _check_matrix("w1", w1, x.shape[-1], "d_model (last dim of x)")
    _check_bias("b1", b1, w1.shape[1])
    _check_matrix("w2", w2, w1.shape[1], "d_ff (columns of w1)")
    _check_bias("b2", b2, w2.shape[1])
    h = x @ w1                              # [..., d_ff]
    if b1 is not None:
        h = h + b1
    out = _activate(h, activation) @ w2     # [..., d_out]
    if b2 is not None:
        out = out + b2
    return out


def swiglu_ffn(x: torch.Tensor, w_gate: torch.Tensor, w_up: torch.Tensor, w_down: torch.Tensor) -> torch.Tensor:
    """x [..., d_model], w_gate/w_up [d_model, d_ff], w_down [d_ff, d_out] -> [..., d_out]; no biases."""
    _check_x(x)
    _check_matrix("w_gate", w_gate, x.shape[-1], "d_model (last dim of x)")
    if not isinstance(w_up, torch.Tensor) or w_up.shape != w_gate.shape:
        got = tuple(w_up.shape) if isinstance(w_up, torch.Tensor) else type(w_up).__name__
        raise ValueError(f"w_up must have the shape of w_gate {tuple(w_gate.shape)}, got {got}")
    _check_matrix("w_down", w_down, w_gate.shape[1], "d_ff (columns of w_gate)")
    gate = x @ w_gate                       # [..., d_ff]
    up = x @ w_up                           # [..., d_ff]
    return (gate * torch.sigmoid(gate) * up) @ w_down


def ffn_params(d_model: int, d_ff: int, gated: bool = False) -> int:
    """Parameters of one FFN block: plain (w1, b1, w2, b2) or gated SwiGLU (w_gate, w_up, w_down, no biases)."""
    for name, value in (("d_model", d_model), ("d_ff", d_ff)):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if not isinstance(gated, bool):
        raise ValueError(f"gated must be True or False, got {gated!r}")
    if gated:
        return 3 * d_model * d_ff
    return 2 * d_model * d_ff + d_ff + d_model
