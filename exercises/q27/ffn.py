"""Q27: the feed-forward network. Read README.md first; run `pytest exercises/q27` to self-check.

Weights are [in_features, out_features] and applied as x @ W (NOT nn.Linear's x @ W.T).
The FFN works on each position (token) independently: x [..., d_model] -> [..., d_out].
Write gelu from its formula: torch.nn.functional.gelu / nn.GELU are forbidden (forbidden.toml).
"""
from __future__ import annotations

import math

import torch


def gelu(x: torch.Tensor, approximate: str = "none") -> torch.Tensor:
    """GELU elementwise, any shape, same dtype.

    approximate="none": the exact GELU  x * Phi(x) = 0.5 * x * (1 + erf(x / sqrt(2)))
    approximate="tanh": 0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x**3)))
    Anything else is a ValueError.
    """
    raise NotImplementedError


def ffn(x: torch.Tensor, w1: torch.Tensor, b1: torch.Tensor | None, w2: torch.Tensor, b2: torch.Tensor | None,
        activation: str = "gelu") -> torch.Tensor:
    """Plain FFN:  act(x @ w1 + b1) @ w2 + b2.

    x [..., d_model], w1 [d_model, d_ff], b1 [d_ff] or None, w2 [d_ff, d_out], b2 [d_out] or None
    -> [..., d_out] (d_out is d_model in a Transformer). activation: "gelu" (exact) or "relu".
    Shape mismatches and an unknown activation are ValueErrors naming the argument.
    """
    raise NotImplementedError


def swiglu_ffn(x: torch.Tensor, w_gate: torch.Tensor, w_up: torch.Tensor, w_down: torch.Tensor) -> torch.Tensor:
    """Gated FFN (Llama):  (silu(x @ w_gate) * (x @ w_up)) @ w_down,  silu(z) = z * sigmoid(z); no biases.

    x [..., d_model], w_gate and w_up [d_model, d_ff], w_down [d_ff, d_out] -> [..., d_out].
    Shape mismatches are ValueErrors naming the argument.
    """
    raise NotImplementedError


def ffn_params(d_model: int, d_ff: int, gated: bool = False) -> int:
    """Number of parameters of one FFN block (d_out = d_model).

    gated=False: the plain FFN WITH biases (w1, b1, w2, b2).
    gated=True:  the SwiGLU FFN WITHOUT biases (w_gate, w_up, w_down).
    d_model, d_ff must be positive ints (ValueError otherwise).
    """
    raise NotImplementedError
