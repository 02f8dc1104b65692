"""Gradient checks: what a model trains through must be differentiable, with the reference's gradients.

The submission runs forward AND backward where it lives (``sub._vjp``: in-process, or in the isolated
worker, which sends back plain tensors), for a cotangent drawn here; the reference's gradients come from
autograd on the trusted reference in this process, through the same routine (``grader.vjp``).

    gradients_match(sub._vjp, ref.layer_norm, (x, gamma, beta), wrt=("x", "gamma", "beta"))

Conventions: float64 inputs, tolerance 1e-9; the cotangent is seeded and is zero where the reference's
output is infinite (masked scores): a softmax after them sends back exactly zero there, and what an
implementation does with a gradient that never arrives is its own business.
"""
from __future__ import annotations

import inspect
import math
from typing import Any, Callable

import torch

from ..vjp import vjp_call
from .core import assert_close, describe, fail

GRAD_TOL = 1e-9
_CUT_HINT = ("autograd must flow from the output back to every input: .detach(), .data, .item()/.tolist()/"
             ".numpy() and back, torch.tensor(x) of a tensor, or a torch.no_grad() block all cut the graph; "
             "compute with torch ops on the tensors you were given")
_INPLACE_HINT = ("an in-place op (+=, *=, /=, x[...] = ..., .exp_(), .masked_fill_()) changed a tensor that "
                 "autograd saved for the backward pass; write it out of place (y = y * s instead of y *= s)")
_REQUIRES_GRAD_HINT = ("with inputs that require grad, .numpy() needs .detach() (and then leaves the graph), and "
                       "an in-place op on an input is an error; compute with torch ops out of place")


def f64(*shape: int, seed: int, scale: float = 1.0, shift: float = 0.0) -> torch.Tensor:
    """A seeded float64 input: scale * N(0, 1) + shift."""
    return scale * torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) + shift


def _keys(ref_fn: Callable, args: tuple, kwargs: dict, wrt) -> list:
    """Argument names -> positions in ``args`` or keys of ``kwargs``, by the reference's signature."""
    names = [p.name for p in inspect.signature(ref_fn).parameters.values()]
    out = []
    for w in wrt:
        if isinstance(w, int) or w in kwargs:
            out.append(w)
        elif w in names and names.index(w) < len(args):
            out.append(names.index(w))
        else:
            raise TypeError(f"gradients_match: {ref_fn.__name__} gets no argument {w!r} here")
    return out


def _label(ref_fn: Callable, key) -> str:
    if isinstance(key, str):
        return key
    names = [p.name for p in inspect.signature(ref_fn).parameters.values()]
    return names[key] if key < len(names) else f"argument {key + 1}"


def random_cotangent(output: Any, seed: int) -> Any:
    """A seeded cotangent shaped like ``output`` (a tensor, or a tuple/list of them); zero where the
    output is infinite, None for outputs that are not floating-point tensors."""
    g = torch.Generator().manual_seed(seed)

    def one(o):
        if not isinstance(o, torch.Tensor) or not o.is_floating_point():
            return None
        c = torch.randn(o.shape, generator=g, dtype=torch.float64).to(o.dtype)
        return torch.where(torch.isinf(o), torch.zeros_like(c), c)

    return [one(o) for o in output] if isinstance(output, (tuple, list)) else one(output)


def _call(sub_vjp: Callable, name: str, args: tuple, kwargs: dict, keys: list, cot: Any) -> dict:
    try:
        return sub_vjp(name, args, kwargs, wrt=keys, cotangent=cot)
    except NotImplementedError:
        raise  # a stub: "… is not implemented yet", like every other test (NotImplementedError is a RuntimeError)
    except RuntimeError as e:
        fail(f"your {name} raised RuntimeError when its inputs require grad: {e}", _REQUIRES_GRAD_HINT)


def _outputs_connected(name: str, got: dict, ref_out: Any, cot: Any) -> None:
    flags = got["grad_fn"]
    many = isinstance(ref_out, (tuple, list))
    outs = got["output"] if many else [got["output"]]
    flags, cots = (flags, cot) if many else ([flags], [cot])
    if many and (not isinstance(outs, (tuple, list)) or len(outs) != len(ref_out) or len(flags) != len(cots)):
        fail(f"your {name} returned {describe(got['output'])}, expected {len(ref_out)} outputs")
    for i, (flag, c) in enumerate(zip(flags, cots)):
        if c is not None and not flag:
            which = f" as its output {i + 1}" if many else ""
            fail(f"your {name} returned a tensor with no grad_fn{which} (is something computed outside torch, "
                 f"or under no_grad?)", _CUT_HINT)


def gradients_match(sub_vjp: Callable, ref_fn: Callable, args: tuple, kwargs: dict | None = None, *, wrt,
                    seed: int = 0, zero_at: dict | None = None, tol: float = GRAD_TOL) -> None:
    """The submission's gradients w.r.t. ``wrt`` (names of ``ref_fn``'s arguments) equal the reference's.

    ``sub_vjp`` is ``sub._vjp``. ``zero_at`` maps an argument name to a bool mask of the positions whose
    gradient must be exactly 0 (e.g. masked keys). Fails with one sentence: the output has no grad_fn,
    the backward pass raised, an argument gets no gradient, or a gradient is off (max error, index).
    """
    kwargs = dict(kwargs or {})
    name = ref_fn.__name__
    keys = _keys(ref_fn, args, kwargs, wrt)
    with torch.no_grad():
        ref_out = ref_fn(*args, **kwargs)
    cot = random_cotangent(ref_out, seed)
    expected = vjp_call(ref_fn, args, kwargs, keys, cot)
    if expected["backward_error"] is not None or any(g is None for g in expected["grads"]):
        raise AssertionError(f"the reference {name} gives no gradient here: {expected['backward_error']}")
    got = _call(sub_vjp, name, args, kwargs, keys, cot)
    many = isinstance(ref_out, (tuple, list))
    if many and isinstance(got["output"], (tuple, list)) and len(got["output"]) == len(ref_out):
        for i, (o, e) in enumerate(zip(got["output"], ref_out)):
            assert_close(o, e, f"{name}(...)[{i}] (in the gradient test)")
    elif not many:
        assert_close(got["output"], ref_out, f"{name}(...) (in the gradient test)")
    _outputs_connected(name, got, ref_out, cot)
    if got["backward_error"] is not None:
        fail(f"backward through your {name} failed: {got['backward_error']}", _INPLACE_HINT)
    for key, g, e in zip(keys, got["grads"], expected["grads"]):
        label = _label(ref_fn, key)
        if g is None:
            fail(f"your {name} gives no gradient w.r.t. {label}: the output does not depend on it through "
                 f"autograd (is {label} used through .detach(), .data, or a copy made outside torch?)", _CUT_HINT)
        assert_close(g, e, f"{name}: the gradient w.r.t. {label}", rtol=tol, atol=tol)
        mask = (zero_at or {}).get(label)
        if mask is not None:
            nonzero = mask.expand_as(g) & (g != 0)
            if bool(nonzero.any()):
                idx = tuple(int(i) for i in nonzero.nonzero()[0])
                fail(f"{name}: the gradient w.r.t. {label} at index {idx} is {g[idx].item():.3g}, but that "
                     f"position is masked: it must get exactly zero gradient",
                     "a masked position must not influence the output at all (its attention weight is exactly 0)")


def _causal_attention(scores_fn: Callable, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """softmax(scores_fn(q k^T / sqrt(d))) @ v, for q, k, v [..., T, d]."""
    return torch.softmax(scores_fn(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])), dim=-1) @ v


def no_gradient_from_the_future(sub_vjp: Callable, *, t: int, d: int, seed: int) -> None:
    """Causal attention built on the submission's ``masked_scores`` (causal mask): the Jacobian of position
    i's output w.r.t. the q, k, v of any later position is exactly zero, and the rest is the reference's.

    The chain rule runs across the boundary: the trusted side computes the scores and, after the
    submission's ``masked_scores``, the softmax and the values; the submission's step is one vjp. Copy i
    of a batch of t copies carries a cotangent on output position i only.
    """
    g = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(t, 2, t, d, generator=g, dtype=torch.float64).requires_grad_(True) for _ in range(3))
    allowed = torch.ones(t, t, dtype=torch.bool).tril()
    cot = torch.zeros(t, 2, t, d, dtype=torch.float64)
    for i in range(t):
        cot[i, :, i] = torch.randn(2, d, generator=g, dtype=torch.float64)
    scores = q @ k.transpose(-2, -1) / math.sqrt(d)                        # [t copies, 2, t, t]
    got = _call(sub_vjp, "masked_scores", (scores.detach(), allowed), {}, [0], torch.zeros_like(scores))
    masked = got["output"]
    assert_close(masked, scores.detach().masked_fill(~allowed, float("-inf")), "masked_scores (in the gradient test)")
    leaf = masked.clone().requires_grad_(True)
    d_masked, d_v = torch.autograd.grad(torch.softmax(leaf, dim=-1) @ v, (leaf, v), cot)
    got = _call(sub_vjp, "masked_scores", (scores.detach(), allowed), {}, [0], d_masked)
    if not got["grad_fn"]:
        fail("your masked_scores returned a tensor with no grad_fn (is something computed outside torch, "
             "or under no_grad?)", _CUT_HINT)
    if got["backward_error"] is not None:
        fail(f"backward through your masked_scores failed: {got['backward_error']}", _INPLACE_HINT)
    if got["grads"][0] is None:
        fail("your masked_scores gives no gradient w.r.t. scores", _CUT_HINT)
    d_q, d_k = torch.autograd.grad(scores, (q, k), got["grads"][0].to(scores.dtype))
    e_q, e_k, e_v = torch.autograd.grad(
        _causal_attention(lambda s: s.masked_fill(~allowed, float("-inf")), q, k, v), (q, k, v), cot)
    for label, grad, exp in (("q", d_q, e_q), ("k", d_k, e_k), ("v", d_v, e_v)):
        for i in range(t - 1):
            later = grad[i, :, i + 1:]
            if bool((later != 0).any()):
                j = i + 1 + int((later != 0).any(-1).any(0).nonzero()[0])
                fail(f"the gradient of causal attention's output at position {i} w.r.t. {label} at the later "
                     f"position {j} is not zero (built on your masked_scores): the future leaks into training",
                     "masked positions must be exactly -inf before the softmax, so no gradient reaches them")
        assert_close(grad, exp, f"the gradient of causal attention (on your masked_scores) w.r.t. {label}",
                     rtol=GRAD_TOL, atol=GRAD_TOL)
