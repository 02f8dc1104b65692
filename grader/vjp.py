"""One vector-Jacobian product: run a function forward and backward, return plain tensors.

The same routine serves the reference (in the grader's process), a submission in-process
(``grader.loading.ModuleView._vjp``) and a submission in the isolated worker (``grader.worker``), so the
three can only differ in what the function itself computes.

``wrt`` names the differentiable arguments: an int is a position in ``args``, a str a key of ``kwargs``.
Each becomes a fresh float leaf that requires grad; ``cotangent`` matches the output (a tensor for a
tensor, a list with a tensor or None per item for a tuple or list of outputs). The result is a dict:

- ``output``: the output, detached;
- ``grads``: per ``wrt`` entry, d<output, cotangent>/d(argument), or None where no gradient reaches it;
- ``grad_fn``: per output tensor, whether it is connected to the graph (False: computed outside torch,
  detached, or under no_grad), a bool for a single tensor output;
- ``backward_error``: None, or the text of the error the backward pass raised (e.g. a tensor autograd
  saved was modified in place).
"""
from __future__ import annotations

from typing import Any, Callable

import torch


def validate(args: tuple, kwargs: dict, wrt) -> None:
    """The grader's own request must name floating-point tensor arguments (GraderFault otherwise)."""
    try:
        leaves(args, kwargs, wrt)
    except ValueError as e:
        from .loading import GraderFault
        raise GraderFault(str(e)) from None


def leaves(args: tuple, kwargs: dict, wrt) -> tuple[tuple, dict, list[torch.Tensor]]:
    """``args``/``kwargs`` with each ``wrt`` argument replaced by a fresh leaf that requires grad."""
    args, kwargs = list(args), dict(kwargs)
    made: list[torch.Tensor] = []
    for key in wrt:
        holder = args if type(key) is int else kwargs
        if (type(key) is int and not 0 <= key < len(args)) or (type(key) is str and key not in kwargs) \
                or type(key) not in (int, str):
            raise ValueError(f"vjp: no argument {key!r} to differentiate")
        t = holder[key]
        if not isinstance(t, torch.Tensor) or not t.is_floating_point():
            raise ValueError(f"vjp: argument {key!r} is not a floating-point tensor")
        leaf = torch.Tensor.detach(t).clone().requires_grad_(True)
        holder[key] = leaf
        made.append(leaf)
    return tuple(args), kwargs, made


def _outputs(out: Any) -> list[Any]:
    return list(out) if isinstance(out, (tuple, list)) else [out]


def vjp_call(fn: Callable, args: tuple, kwargs: dict, wrt, cotangent: Any) -> dict:
    """Forward ``fn(*args, **kwargs)`` with ``wrt`` as leaves, then backward with ``cotangent``."""
    args, kwargs, inputs = leaves(args, kwargs, wrt)
    with torch.enable_grad():
        out = fn(*args, **kwargs)
    outs = _outputs(out)
    cots = _outputs(cotangent)
    connected = [isinstance(o, torch.Tensor) and o.grad_fn is not None for o in outs]
    pairs = [(o, c) for o, c, g in zip(outs, cots, connected)
             if g and isinstance(c, torch.Tensor) and c.shape == o.shape]
    grads: list[torch.Tensor | None] = [None] * len(inputs)
    error = None
    if pairs and inputs:
        try:
            # <output, cotangent> as a scalar: the same gradients as grad_outputs=cotangent, without the
            # shape checks that import sympy (about a second in every fresh worker)
            loss = sum((o * c.to(o.dtype)).sum() for o, c in pairs)
            got = torch.autograd.grad(loss, inputs, allow_unused=True)
            grads = [None if g is None else torch.Tensor.detach(g) for g in got]
        except RuntimeError as e:
            error = f"{type(e).__name__}: {e}"[:2000]
    detached = [torch.Tensor.detach(o) if isinstance(o, torch.Tensor) else o for o in outs]
    single = not isinstance(out, (tuple, list))
    return {"output": detached[0] if single else type(out)(detached) if type(out) in (tuple, list) else detached,
            "grads": grads, "grad_fn": connected[0] if single else connected, "backward_error": error}
