"""Q28: editing knowledge in the FFN. Read README.md first; run `pytest exercises/q28` to self-check.

Weights are [in_features, out_features] and applied as x @ W (NOT nn.Linear's x @ W.T).
An FFN  act(x @ w_in) @ w_out  is a key-value memory: neuron i has a key (column i of w_in, matched
against x) and a value (row i of w_out, added to the output with weight act(x @ w_in)[i]).
"""
from __future__ import annotations

import math

import torch


def neuron_contributions(x: torch.Tensor, w_in: torch.Tensor, w_out: torch.Tensor,
                         activation: str = "relu") -> torch.Tensor:
    """Per-neuron value vectors of the FFN output.

    x [..., d_model], w_in [d_model, d_ff], w_out [d_ff, d_out] -> [..., d_ff, d_out] where
    result[..., i, :] = act(x @ w_in)[..., i] * w_out[i]; summed over d_ff it is act(x @ w_in) @ w_out.
    activation: "relu" or "gelu" (exact, erf). Shape mismatches / other activations: ValueError.
    """
    raise NotImplementedError


def rank_one_edit(w: torch.Tensor, k_star: torch.Tensor, v_star: torch.Tensor,
                  cov: torch.Tensor | None = None) -> torch.Tensor:
    """ROME-style minimal edit of the down projection w [d_ff, d_model]. Returns a NEW w_new (same dtype).

    k_star [d_ff] (a key: an input of w), v_star [d_model] (the output we want for it),
    cov [d_ff, d_ff] symmetric positive definite (second moment of the keys) or None.
    w_new satisfies k_star @ w_new == v_star, and is the smallest such change: in Frobenius norm for
    cov=None, in tr(dWᵀ cov dW) with cov. Keys k with k @ inv(cov) @ k_star == 0 (k ⟂ k_star without
    cov) keep their outputs. Shape mismatches and a zero k_star are ValueErrors. Do not modify w.
    """
    raise NotImplementedError
