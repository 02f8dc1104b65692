"""Comparisons that fail with one readable message: what was expected, what came back, a hint.

Every check raises ``CheckFailure`` (an ``AssertionError``); the pytest plugin prints its message
alone, without a traceback, so a failing test reads as one clear sentence.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import torch

# Default tolerances per dtype (catalog: float64 to about 1e-9, float32 to about 1e-5).
TOLERANCES = {torch.float64: (1e-9, 1e-9), torch.float32: (1e-5, 1e-5)}


class CheckFailure(AssertionError):
    """A check that failed; its message is the whole story (no traceback needed)."""


def fail(message: str, hint: str | None = None) -> None:
    raise CheckFailure(message + (f"\n  hint: {hint}" if hint else ""))


def tol(dtype: torch.dtype) -> tuple[float, float]:
    """(rtol, atol) for a dtype."""
    return TOLERANCES.get(dtype, (1e-5, 1e-5))


def _fmt_shape(shape) -> str:
    return "(" + ", ".join(str(int(s)) for s in shape) + ")"


def _small(t: torch.Tensor, limit: int = 64) -> str:
    if t.numel() > limit:
        return f"<tensor of shape {_fmt_shape(t.shape)}>"
    if t.dtype == torch.bool:
        if t.dim() == 2:
            return "\n" + "\n".join("    " + " ".join("1" if v else "." for v in row) for row in t.tolist())
        return str(t.int().tolist())
    return str(t.tolist())


def assert_tensor(actual: Any, what: str) -> torch.Tensor:
    if not isinstance(actual, torch.Tensor):
        fail(f"{what} should be a torch.Tensor, got {type(actual).__name__}")
    return actual


def assert_shape(actual: Any, shape, what: str, hint: str | None = None) -> None:
    actual = assert_tensor(actual, what)
    if tuple(actual.shape) != tuple(shape):
        fail(f"{what} has shape {_fmt_shape(actual.shape)}, expected {_fmt_shape(shape)}", hint)


def assert_close(actual: Any, expected: torch.Tensor, what: str, *, rtol: float | None = None,
                 atol: float | None = None, check_dtype: bool = True, hint: str | None = None,
                 example: str | None = None) -> None:
    """Tensor equality within tolerance, with shape and dtype checked first.

    ``rtol``/``atol`` default to the expected tensor's dtype tolerance. ``example`` may describe the
    input that produced the mismatch, so the candidate can reproduce it by hand.
    """
    actual = assert_tensor(actual, what)
    expected = torch.as_tensor(expected)
    assert_shape(actual, expected.shape, what, hint)
    if check_dtype and actual.dtype != expected.dtype:
        fail(f"{what} has dtype {actual.dtype}, expected {expected.dtype} (outputs keep the input's dtype)",
             hint)
    d_rtol, d_atol = tol(expected.dtype)
    rtol = d_rtol if rtol is None else rtol
    atol = d_atol if atol is None else atol
    if expected.dtype == torch.bool or not expected.is_floating_point():
        bad = actual.to(expected.dtype) != expected
        if bool(bad.any()):
            where = tuple(int(i) for i in bad.nonzero()[0])
            msg = (f"{what} differs at {int(bad.sum())} of {bad.numel()} positions, first at index {where}: "
                   f"got {actual[where].item()!r}, expected {expected[where].item()!r}")
            if expected.numel() <= 64:
                msg += f"\n  got:      {_small(actual)}\n  expected: {_small(expected)}"
            fail(msg + (f"\n  input: {example}" if example else ""), hint)
        return
    a = actual.detach().to(torch.float64)
    e = expected.detach().to(torch.float64)
    nan_a, nan_e = torch.isnan(a), torch.isnan(e)
    if bool((nan_a != nan_e).any()):
        where = tuple(int(i) for i in (nan_a != nan_e).nonzero()[0])
        fail(f"{what} has NaN where it should not (or misses one) at index {where}: "
             f"got {a[where].item()}, expected {e[where].item()}" + (f"\n  input: {example}" if example else ""),
             hint)
    finite = ~nan_e
    inf_mismatch = (torch.isinf(a) | torch.isinf(e)) & finite & (a != e)
    err = torch.where(finite, (a - e).abs(), torch.zeros_like(a))
    err = torch.where(inf_mismatch, torch.full_like(a, math.inf), err)
    allowed = atol + rtol * e.abs().nan_to_num(posinf=0.0, neginf=0.0)
    bad = err > allowed
    if bool(bad.any()):
        flat = int(torch.argmax(torch.where(bad, err, torch.zeros_like(err)).reshape(-1)))
        where = tuple(int(i) for i in torch.unravel_index(torch.tensor(flat), a.shape)) if a.dim() else ()
        msg = (f"{what} is off: max abs error {err.max().item():.3g} at index {where} "
               f"(got {a[where].item():.10g}, expected {e[where].item():.10g}; "
               f"allowed atol={atol:g} + rtol={rtol:g}·|expected|); {int(bad.sum())} of {bad.numel()} values off")
        if example:
            msg += f"\n  input: {example}"
        fail(msg, hint)


def assert_equal(actual: Any, expected: Any, what: str, hint: str | None = None) -> None:
    """Exact equality for plain values (ints, strings, lists, tuples) and exact tensors."""
    if isinstance(expected, torch.Tensor):
        assert_close(actual, expected, what, rtol=0.0, atol=0.0, hint=hint)
        return
    if isinstance(actual, torch.Tensor):
        fail(f"{what} should be a plain {type(expected).__name__}, got a torch.Tensor", hint)
    if actual != expected or type(actual) is not type(expected) and not _same_number_kind(actual, expected):
        fail(f"{what}: got {actual!r}, expected {expected!r}", hint)


def _same_number_kind(a: Any, b: Any) -> bool:
    num = (int, float)
    return isinstance(a, num) and isinstance(b, num) and not isinstance(a, bool) and not isinstance(b, bool)


def assert_number(actual: Any, expected: float, what: str, *, rel: float = 1e-9, abs_: float = 0.0,
                  hint: str | None = None) -> None:
    """A float-like scalar close to ``expected`` (relative ``rel``, absolute ``abs_``)."""
    if isinstance(actual, torch.Tensor) and actual.numel() == 1:
        actual = actual.item()
    if isinstance(actual, bool) or not isinstance(actual, (int, float)):
        fail(f"{what} should be a number, got {type(actual).__name__}: {actual!r}", hint)
    if not math.isclose(float(actual), float(expected), rel_tol=rel, abs_tol=abs_):
        fail(f"{what}: got {actual!r}, expected {expected!r} (rel tol {rel:g})", hint)


def assert_true(cond: bool, message: str, hint: str | None = None) -> None:
    if not cond:
        fail(message, hint)


def expect_value_error(fn: Callable, *args, what: str, mentions: tuple[str, ...] = (), **kwargs) -> None:
    """``fn(*args, **kwargs)`` must raise ValueError whose message names one of ``mentions``."""
    try:
        fn(*args, **kwargs)
    except ValueError as e:
        msg = str(e)
        if mentions and not any(m.lower() in msg.lower() for m in mentions):
            fail(f"{what}: raised ValueError({msg!r}), but the message should name "
                 f"{' or '.join(repr(m) for m in mentions)}")
        return
    except NotImplementedError:
        raise
    except Exception as e:  # noqa: BLE001 - any other error is the wrong kind
        fail(f"{what}: should raise ValueError, raised {type(e).__name__}: {e}")
    fail(f"{what}: should raise ValueError, but returned normally")


def unchanged(before: torch.Tensor, after: torch.Tensor, what: str) -> None:
    """Inputs must not be changed in place."""
    if before.shape != after.shape or not torch.equal(before, after):
        fail(f"{what} was changed in place; functions must not modify their inputs")
