"""Q28 reference: the FFN as a key-value memory, and a ROME-style rank-one edit of it.

Weights are [in_features, out_features] and applied as x @ W. With w_in [d_model, d_ff] and
w_out [d_ff, d_model], the FFN output is  act(x @ w_in) @ w_out = sum_i act(x @ w_in)[i] * w_out[i]:
neuron i has a key (column i of w_in) and a value vector (row i of w_out).

rank_one_edit changes the down projection w [d_ff, d_model] so that the key k* maps to v*:
    r = v* - k* @ w                              (what the layer gets wrong now)
    u = C^-1 k*   (u = k* without a covariance)
    w_new = w + outer(u, r) / (k* . u)
Then k* @ w_new = v*; a key k with k @ C^-1 @ k* = 0 keeps its output; and among all w_new with
k* @ w_new = v* this one changes w least: in Frobenius norm without C, and in tr(dWᵀ C dW) — the change
of the outputs on the keys C was built from — with C.
"""
from __future__ import annotations

import math

import torch


def _activate(h: torch.Tensor, activation: str) -> torch.Tensor:
    if activation == "relu":
        return torch.relu(h)
    return 0.5 * h * (1.0 + torch.erf(h / math.sqrt(2.0)))  # exact GELU


def _shape(t) -> str:
    return str(tuple(t.shape)) if isinstance(t, torch.Tensor) else type(t).__name__


def neuron_contributions(x: torch.Tensor, w_in: torch.Tensor, w_out: torch.Tensor,
                         activation: str = "relu") -> torch.Tensor:
    """x [..., d_model], w_in [d_model, d_ff], w_out [d_ff, d_out] -> [..., d_ff, d_out]; sum over d_ff = FFN output."""
    if activation not in ("relu", "gelu"):
        raise ValueError(f'activation must be "relu" or "gelu", got {activation!r}')
    if not isinstance(x, torch.Tensor) or x.dim() < 1:
        raise ValueError(f"x must be a tensor [..., d_model], got {_shape(x)}")
    if not isinstance(w_in, torch.Tensor) or w_in.dim() != 2 or w_in.shape[0] != x.shape[-1]:
        raise ValueError(f"w_in must be [d_model={x.shape[-1]}, d_ff] (applied as x @ w_in), got {_shape(w_in)}")
    if not isinstance(w_out, torch.Tensor) or w_out.dim() != 2 or w_out.shape[0] != w_in.shape[1]:
        raise ValueError(f"w_out must be [d_ff={w_in.shape[1]}, d_out], got {_shape(w_out)}")
    a = _activate(x @ w_in, activation)     # [..., d_ff] how strongly each key matches
    return a.unsqueeze(-1) * w_out          # [..., d_ff, d_out] neuron i's value, scaled


def rank_one_edit(w: torch.Tensor, k_star: torch.Tensor, v_star: torch.Tensor,
                  cov: torch.Tensor | None = None) -> torch.Tensor:
    """w [d_ff, d_model], k_star [d_ff], v_star [d_model], cov [d_ff, d_ff] (SPD) or None -> w_new [d_ff, d_model]."""
    if not isinstance(w, torch.Tensor) or w.dim() != 2:
        raise ValueError(f"w must be a matrix [d_ff, d_model], got {_shape(w)}")
    d_ff, d_model = w.shape
    if not isinstance(k_star, torch.Tensor) or tuple(k_star.shape) != (d_ff,):
        raise ValueError(f"k_star must have shape ({d_ff},) (a key: an input of w), got {_shape(k_star)}")
    if not isinstance(v_star, torch.Tensor) or tuple(v_star.shape) != (d_model,):
        raise ValueError(f"v_star must have shape ({d_model},) (a value: an output of w), got {_shape(v_star)}")
    if cov is not None and (not isinstance(cov, torch.Tensor) or tuple(cov.shape) != (d_ff, d_ff)):
        raise ValueError(f"cov must be None or a matrix ({d_ff}, {d_ff}), got {_shape(cov)}")
    k_star = k_star.to(w.dtype)
    v_star = v_star.to(w.dtype)
    if not bool(k_star.any()):
        raise ValueError("k_star is the zero vector: no edit can map it to v_star")
    r = v_star - k_star @ w                               # [d_model] the residual to add on k*
    if cov is None:
        u = k_star                                        # [d_ff]
    else:
        try:
            u = torch.linalg.solve(cov.to(w.dtype), k_star)   # [d_ff] C^-1 k*
        except RuntimeError as e:
            raise ValueError(f"cov must be invertible (symmetric positive definite): {e}") from None
    denom = k_star @ u                                    # k*ᵀ C^-1 k*  (|k*|² without cov)
    if not bool(denom > 0):
        raise ValueError(f"cov must be positive definite: k_star @ inv(cov) @ k_star = {float(denom):g}")
    return w + torch.outer(u, r) / denom
