"""Q25: residual connections. Read README.md first; self-check: `pytest exercises/q25`.

Weights are [in_features, out_features] and applied as x @ W.
The one fact: y = x + F(x) has Jacobian I + F'(x), so the gradient always has a path through the
identity; a plain stack multiplies many Jacobians smaller than 1 and the gradient vanishes.
"""
from __future__ import annotations

import torch

WIDTH = 64  # d: features per row
BATCH = 8  # n: rows in the batch
GAIN = 0.5  # W_l ~ N(0, GAIN^2 / d)


def residual(x: torch.Tensor, sublayer) -> torch.Tensor:
    """x + sublayer(x).  x [..., d]; sublayer maps [..., d] -> [..., d] (call it once).

    x not a floating-point tensor, a sublayer that is not callable or changes the shape: ValueError.
    """
    raise NotImplementedError


def pre_norm_block(x: torch.Tensor, sublayer, norm) -> torch.Tensor:
    """Pre-norm (GPT-2, Llama): x + sublayer(norm(x)). The identity path x is never normalised.

    norm and sublayer map [..., d] -> [..., d]; call each once. Errors as in residual (naming norm/sublayer).
    """
    raise NotImplementedError


def post_norm_block(x: torch.Tensor, sublayer, norm) -> torch.Tensor:
    """Post-norm (the original Transformer): norm(x + sublayer(x)).

    Call each of sublayer and norm once. Errors as in residual (naming norm/sublayer).
    """
    raise NotImplementedError


def input_grad_norm(depth: int, residual: bool, generator: torch.Generator) -> float:
    """Gradient norm at the input of a stack of `depth` random layers, as a Python float.

    Exactly (everything float64, d = WIDTH, n = BATCH):
        x   = torch.randn(n, d, generator=generator, dtype=torch.float64)          # drawn first
        W_l = torch.randn(d, d, generator=generator, dtype=torch.float64) * (GAIN / sqrt(d))
              for l = 1 .. depth, drawn in this order after x (the order is part of the definition:
              the grader compares your value with the reference's for the same seed)
        h_0 = x
        h_l = h_{l-1} + tanh(h_{l-1} @ W_l)    if residual
        h_l = tanh(h_{l-1} @ W_l)              otherwise
        loss = h_depth.sum()
        return the Frobenius norm of d loss / d x        (depth 0: sqrt(n * d) = sqrt(512))
    depth a negative or non-int, residual not a bool, or generator not a torch.Generator: ValueError.
    """
    raise NotImplementedError
