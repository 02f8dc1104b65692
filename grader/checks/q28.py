"""Q28 property checks, shared by the self-check and the hidden suite.

Everything here is computed from the definitions (torch built-ins as oracles, float64 on the trusted side):
the per-neuron value vectors sum to the FFN output; the edit maps k* to v*, leaves keys with
k @ inv(C) @ k* = 0 alone, and is the smallest change that does so.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .core import assert_close, assert_shape, assert_tensor, fail, unchanged

_EDIT_HINT = ("w_new = w + outer(u, r) / (k* · u) with r = v* - k* @ w (the residual, not v* itself) and "
              "u = inv(C) @ k* (u = k* without cov)")


def _shape(t: torch.Tensor) -> str:
    return "(" + ", ".join(str(s) for s in t.shape) + ")"


def _f32_or_f64(dtype: torch.dtype, f64: float, f32: float) -> float:
    return f64 if dtype == torch.float64 else f32


def ffn_output(x, w_in, w_out, activation: str) -> torch.Tensor:
    h = x @ w_in
    return (F.relu(h) if activation == "relu" else F.gelu(h)) @ w_out


def contributions_sum_to_ffn(neuron_contributions, x, w_in, w_out, activation: str = "relu") -> None:
    """[..., d_ff, d_out]: row i is act(x @ w_in[:, i]) * w_out[i], and the rows sum to the FFN output."""
    saved = [t.clone() for t in (x, w_in, w_out)]
    got = neuron_contributions(x, w_in, w_out, activation)
    for before, after, name in zip(saved, (x, w_in, w_out), ("x", "w_in", "w_out")):
        unchanged(before, after, name)
    what = f'neuron_contributions(x {_shape(x)} {x.dtype}, w_in {_shape(w_in)}, w_out {_shape(w_out)}, "{activation}")'
    assert_shape(got, (*x.shape[:-1], w_in.shape[1], w_out.shape[1]), what,
                 hint="one value vector per neuron: [..., d_ff, d_out]")
    tol = _f32_or_f64(x.dtype, 1e-9, 1e-4)
    assert_close(got.sum(dim=-2), ffn_output(x, w_in, w_out, activation), f"the sum over d_ff of {what}",
                 rtol=tol, atol=tol, hint="summing the per-neuron contributions must give act(x @ w_in) @ w_out")
    a = F.relu(x @ w_in) if activation == "relu" else F.gelu(x @ w_in)  # [..., d_ff]
    assert_close(got, a.unsqueeze(-1) * w_out, what, rtol=tol, atol=tol,
                 hint="neuron i contributes act(x @ w_in)[..., i] times row i of w_out (its value vector); "
                      "the activation acts on the neuron's score, before it scales the value")


def _edit(rank_one_edit, w, k, v, cov):
    saved = [t.clone() for t in (w, k, v) + (() if cov is None else (cov,))]
    w_new = rank_one_edit(w, k, v, cov)
    for before, after, name in zip(saved, (w, k, v, cov), ("w", "k_star", "v_star", "cov")):
        unchanged(before, after, name)
    label = f"rank_one_edit(w {_shape(w)} {w.dtype}, k_star, v_star, cov={'None' if cov is None else 'C'})"
    assert_tensor(w_new, label)
    assert_shape(w_new, w.shape, label)
    if w_new.dtype != w.dtype:
        fail(f"{label} has dtype {w_new.dtype}, expected {w.dtype} (outputs keep the input's dtype)")
    if not bool(torch.isfinite(w_new).all()):  # NaN would slip through every size comparison below
        fail(f"{label} has {int((~torch.isfinite(w_new)).sum())} NaN/inf entries; every entry must be finite",
             hint=_EDIT_HINT)
    return w_new, label


def edit_is_exact(rank_one_edit, w, k, v, cov=None) -> torch.Tensor:
    """k* @ w_new == v*; returns w_new."""
    w_new, label = _edit(rank_one_edit, w, k, v, cov)
    tol = _f32_or_f64(w.dtype, 1e-9, 1e-4)
    assert_close((k.double() @ w_new.double()), v.double(), f"k_star @ w_new for w_new = {label}",
                 rtol=tol, atol=tol, check_dtype=False,
                 hint="after the edit the key must map exactly to v_star: " + _EDIT_HINT)
    return w_new


def orthogonal_keys_unchanged(rank_one_edit, w, k, v, cov=None, *, n_keys: int = 6, seed: int = 0) -> None:
    """Keys with key @ inv(C) @ k* == 0 (key ⟂ k* without cov) map to what they mapped to before."""
    w_new, label = _edit(rank_one_edit, w, k, v, cov)
    g = torch.Generator().manual_seed(seed)
    k64 = k.double()
    u = k64 if cov is None else torch.linalg.solve(cov.double(), k64)
    z = torch.randn(n_keys, k.shape[0], generator=g, dtype=torch.float64)
    keys = z - torch.outer(z @ u, k64) / (k64 @ u)  # keys @ u == 0
    tol = _f32_or_f64(w.dtype, 1e-9, 1e-4)
    which = "orthogonal to k_star" if cov is None else "with key @ inv(cov) @ k_star == 0"
    assert_close(keys @ w_new.double(), keys @ w.double(), f"outputs of {n_keys} keys {which} after {label}",
                 rtol=tol, atol=tol, check_dtype=False,
                 hint="the update must be outer(inv(C) @ k*, ...): keys with key @ inv(C) @ k* = 0 see no change"
                      + ("" if cov is None else "; with cov, solve with C (inv(C) @ k*), do not multiply by C"))


def c_norm(delta: torch.Tensor, cov) -> float:
    """sqrt(tr(dWᵀ C dW)): the Frobenius norm without cov; with cov, the change of the outputs on the keys C
    was built from (C = Kᵀ K / n)."""
    d = delta.double()
    if cov is None:
        return float(d.norm())
    return float(torch.trace(d.T @ cov.double() @ d).clamp_min(0).sqrt())


def edit_is_minimal(rank_one_edit, w, k, v, cov=None, *, n_alternatives: int = 8, seed: int = 0) -> None:
    """The edit is the smallest change (Frobenius norm, or the C-norm with cov) with k* @ w_new == v*:
    its size equals the closed-form minimum |r| / sqrt(k*ᵀ inv(C) k*), and other valid edits are larger."""
    w_new, label = _edit(rank_one_edit, w, k, v, cov)
    k64, w64 = k.double(), w.double()
    r = v.double() - k64 @ w64
    u = k64 if cov is None else torch.linalg.solve(cov.double(), k64)
    minimum = float(r.norm() / (k64 @ u).sqrt())
    size = c_norm(w_new.double() - w64, cov)
    norm = "Frobenius norm" if cov is None else "size sqrt(tr(dWᵀ C dW))"
    rel = _f32_or_f64(w.dtype, 1e-7, 1e-3)
    if abs(size - minimum) > rel * minimum + 1e-12:
        fail(f"{label} changed w by {norm} {size:.10g}; the smallest change with k_star @ w_new == v_star has "
             f"{norm} {minimum:.10g}", hint=_EDIT_HINT)
    g = torch.Generator().manual_seed(seed)
    for _ in range(n_alternatives):  # other edits that also satisfy the constraint
        a = torch.randn(k.shape[0], generator=g, dtype=torch.float64)
        a = a + k64 * (1.0 if float(a @ k64) >= 0 else -1.0)  # keep a · k* away from 0
        m = torch.randn(w.shape, generator=g, dtype=torch.float64) * 0.1
        null = m - torch.outer(k64, k64 @ m) / (k64 @ k64)  # k* @ null == 0
        alt = torch.outer(a, r) / (a @ k64) + null
        if c_norm(alt, cov) < size * (1 - rel):
            fail(f"{label} is not the smallest edit: another w_new with k_star @ w_new == v_star changes w by "
                 f"{norm} {c_norm(alt, cov):.6g} < {size:.6g}", hint=_EDIT_HINT)
