"""Comparisons that fail with one readable message: what was expected, what came back, a hint.

Every check raises ``CheckFailure`` (an ``AssertionError``); the pytest plugin prints its message
alone, without a traceback, so a failing test reads as one clear sentence (plus, where it helps, a few
indented lines: the small tensors side by side, what the error looks like, the input, a hint).
"""
from __future__ import annotations

import math
from typing import Any, Callable

import torch

# Default tolerances per dtype (catalog: float64 to about 1e-9, float32 to about 1e-5).
TOLERANCES = {torch.float64: (1e-9, 1e-9), torch.float32: (1e-5, 1e-5)}

_DTYPE_HINT = ("compute in the input's dtype: a torch.tensor(...)/torch.zeros(...)/torch.arange(...) without "
               "dtype=, a .float() or a float32 constant silently turns float64 into float32")


class CheckFailure(AssertionError):
    """A check that failed; its message is the whole story (no traceback needed)."""


def fail(message: str, hint: str | None = None) -> None:
    raise CheckFailure(message + (f"\n  hint: {hint}" if hint else ""))


def tol(dtype: torch.dtype) -> tuple[float, float]:
    """(rtol, atol) for a dtype."""
    return TOLERANCES.get(dtype, (1e-5, 1e-5))


def _fmt_shape(shape) -> str:
    dims = [str(int(s)) for s in shape]
    return f"({dims[0]},)" if len(dims) == 1 else "(" + ", ".join(dims) + ")"


def _type_name(value: Any) -> str:
    return "None" if value is None else type(value).__name__


def _short_list(values: Any) -> str:
    if isinstance(values, list):
        return "[" + ", ".join(_short_list(v) for v in values) + "]"
    return f"{values:.4g}" if isinstance(values, float) else repr(values)


def describe(value: Any, limit: int = 8) -> str:
    """A short description of an argument or result: small tensors in full, others by shape and dtype."""
    if isinstance(value, torch.Tensor):
        dtype = str(value.dtype).replace("torch.", "")
        if value.numel() <= limit and value.dim() <= 2:
            return f"tensor({_short_list(value.tolist())}, {dtype})"
        return f"{dtype} tensor {_fmt_shape(value.shape)}"
    if isinstance(value, (list, tuple)):
        inner = ", ".join(describe(v, limit) for v in value[:6]) + (", ..." if len(value) > 6 else "")
        text = f"[{inner}]" if isinstance(value, list) else f"({inner}{',' if len(value) == 1 else ''})"
        return text if len(text) <= 160 else f"{type(value).__name__} of {len(value)} items"
    if isinstance(value, torch.Generator):
        return "torch.Generator"
    if callable(value) and hasattr(value, "__name__"):
        return f"<function {value.__name__}>"
    if value is None or isinstance(value, (bool, int, float, complex, str, bytes, dict, set, range, slice)) \
            or type(value).__module__ in ("fractions", "decimal"):
        text = repr(value)
        return text if len(text) <= 80 else text[:77] + "..."
    return f"<{type(value).__name__} object>"


def _small(t: torch.Tensor, limit: int = 64) -> str:
    if t.numel() > limit:
        return f"<tensor of shape {_fmt_shape(t.shape)}>"
    if t.dtype == torch.bool:
        if t.dim() == 2:
            return "\n" + "\n".join("    " + " ".join("1" if v else "." for v in row) for row in t.tolist())
        return str(t.int().tolist())
    return str(t.tolist())


def _cells(t: torch.Tensor) -> list[list[str]]:
    """A 2-D bool or integer tensor as text cells (bool: 1 = True, . = False)."""
    if t.dtype == torch.bool:
        return [["1" if v else "." for v in row] for row in t.tolist()]
    return [[str(v) for v in row] for row in t.tolist()]


def _side_by_side(got: torch.Tensor, expected: torch.Tensor) -> list[str]:
    """Small 2-D masks / integer grids printed next to each other, with the differing cells marked x."""
    g, e = _cells(got), _cells(expected)
    w = max(len(c) for row in g + e for c in row) if g and g[0] else 1
    d = [["x" if a != b else "." for a, b in zip(ra, rb)] for ra, rb in zip(g, e)]
    width = len(g[0]) * (w + 1) - 1 if g and g[0] else 0
    head = ["got", "expected", "differs"]
    rows = [("  " + "   ".join(h.ljust(max(width, len(h))) for h in head)).rstrip()]
    for ra, rb, rd in zip(g, e, d):
        cols = [" ".join(c.rjust(w) for c in r) for r in (ra, rb)] + [" ".join(c.rjust(w) for c in rd)]
        rows.append(("  " + "   ".join(c.ljust(max(width, len(h))) for c, h in zip(cols, head))).rstrip())
    if got.dtype == torch.bool:
        rows.append("  (1 = True, . = False)")
    return rows


def _grid_lines(actual: torch.Tensor, expected: torch.Tensor, where: tuple[int, ...]) -> list[str]:
    """For a bool/int mismatch: the 2-D slice holding the first difference, side by side, if it is small."""
    if actual.dim() == 1 and actual.numel() <= 32:
        return [f"  got:      {_small(actual)}", f"  expected: {_small(expected)}"]
    if actual.dim() < 2:
        return []
    lead = where[:-2]
    a, e = actual[lead], expected[lead]
    if a.shape[0] > 16 or a.shape[1] > 24:
        return []
    if a.dtype != torch.bool and max(len(str(v)) for v in a.flatten().tolist() + e.flatten().tolist()) > 6:
        return []
    label = [f"  the slice [{', '.join(map(str, lead))}, :, :]:"] if lead else []
    return label + _side_by_side(a, e)


def _fmt(v: float) -> str:
    return f"{v:.10g}"


def _row_lines(a: torch.Tensor, e: torch.Tensor, where: tuple[int, ...]) -> list[str]:
    """The values around the worst entry along the last dim (at most 8), got above expected."""
    if a.dim() == 0 or a.numel() <= 1:
        return []
    n = a.shape[-1]
    j = where[-1]
    lo = max(0, min(j - 3, n - 8))
    hi = min(n, lo + 8)
    ra, re_ = a[where[:-1]][lo:hi].tolist(), e[where[:-1]][lo:hi].tolist()
    cells_a, cells_e = [f"{v:.6g}" for v in ra], [f"{v:.6g}" for v in re_]
    if cells_a == cells_e:  # the difference is below 6 digits: show more
        cells_a, cells_e = [_fmt(v) for v in ra], [_fmt(v) for v in re_]
    w = max(len(c) for c in cells_a + cells_e)
    pre, post = ("... " if lo > 0 else ""), (" ..." if hi < n else "")
    lead = ", ".join(map(str, where[:-1]))
    idx = f"[{lead + ', ' if lead else ''}{lo}:{hi}]"
    return [f"  values {idx}:",
            f"    got:      {pre}{' '.join(c.rjust(w) for c in cells_a)}{post}",
            f"    expected: {pre}{' '.join(c.rjust(w) for c in cells_e)}{post}"]


def _near_root(r: float) -> str | None:
    """'√n' or '1/√n' (or 'n', '1/n') when r is such a simple factor, else None."""
    if not math.isfinite(r):  # a NaN or inf answer: round() would raise inside the check
        return None
    for value, fmt in ((r, "{}"), (1 / r if r else 0.0, "1/{}")):
        if value <= 1:
            continue
        for n in (round(value), round(value * value)):
            if n < 2 or n > 1 << 20:
                continue
            if abs(value - n) < 1e-6 * n:
                return fmt.format(n)
            if abs(value * value - n) < 1e-6 * n:
                return fmt.format(f"√{n}")
    return None


def _diagnose(a: torch.Tensor, e: torch.Tensor, bad: torch.Tensor, expected_dtype: torch.dtype) -> list[str]:
    """Cheap guesses at what the error looks like (only on failure): each a plain sentence or nothing."""
    notes: list[str] = []
    finite = torch.isfinite(a) & torch.isfinite(e)
    if not bool(finite.all()) or a.numel() < 2:
        return notes
    scale = float(e.abs().max())
    rel = float(((a - e).abs() / (e.abs() + 1e-300)).max())
    if expected_dtype == torch.float64 and rel <= 1e-4:
        if a.numel() >= 4 and bool((a.to(torch.float32).to(torch.float64) == a).all()) \
                and not bool((e.to(torch.float32).to(torch.float64) == e).all()):
            notes.append("every value is exactly a float32 number: the computation runs in float32 and is "
                         "cast back at the end (" + _DTYPE_HINT.split(": ", 1)[1] + ")")
        else:
            notes.append(f"the error is tiny (at most {rel:.1g} relative): typical of float32 somewhere in a "
                         f"float64 computation, or of a small constant (such as eps) in the wrong place")
        return notes
    if scale > 0:
        big = e.abs() > 1e-3 * scale
        if int(big.sum()) >= 2:
            r = a[big] / e[big]
            lo, hi = float(r.min()), float(r.max())
            mid = (lo + hi) / 2
            everywhere = bool(((a - mid * e).abs() <= 1e-6 * abs(mid) * scale + 1e-12).all())
            if everywhere and hi - lo <= 1e-6 * abs(mid) and abs(mid - 1) > 1e-6:
                if abs(mid + 1) < 1e-6:
                    notes.append("got = -expected everywhere: a sign is flipped")
                elif mid == 0:
                    notes.append("got is all zeros")
                else:
                    simple = _near_root(abs(mid))
                    simple = f"{'-' if mid < 0 else ''}{simple}" if simple else ""
                    shown = f" ({simple})" if simple and simple != f"{mid:.6g}" else ""
                    notes.append(f"got = expected × {mid:.6g} everywhere{shown}: a missing or extra factor")
                return notes
    diff = a - e
    spread = float(diff.max() - diff.min())
    shift = float(diff.mean())
    if shift != 0 and spread <= 1e-6 * (scale + 1) and spread <= 1e-3 * abs(shift):
        notes.append(f"got = expected {'+' if shift > 0 else '-'} {abs(shift):.6g} everywhere: a constant shift")
        return notes
    if a.dim() >= 2 and a.shape[-1] == a.shape[-2] >= 2:
        if torch.allclose(a, e.transpose(-1, -2), rtol=1e-6, atol=1e-9 * (scale + 1)):
            notes.append("got equals expected with the last two dims swapped: a transpose too many or too few")
            return notes
    if a.dim() >= 3 and a.shape[0] >= 2:
        per = bad.reshape(a.shape[0], -1).any(dim=1)
        if not bool(per[0]) and bool(per.any()):
            notes.append(f"right for [0, ...] but wrong for {int(per.sum())} of the other {a.shape[0] - 1} "
                         f"entries along the first (batch) dim: do batch elements mix, e.g. a reshape or view "
                         f"across the batch dim?")
    return notes


def assert_tensor(actual: Any, what: str) -> torch.Tensor:
    if actual is None:
        fail(f"{what} should be a torch.Tensor, got None (is a `return` missing?)")
    if not isinstance(actual, torch.Tensor):
        fail(f"{what} should be a torch.Tensor, got {type(actual).__name__}: {describe(actual)}")
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
        fail(f"{what} has dtype {actual.dtype}, expected {expected.dtype} (outputs keep the input's dtype)"
             + (f"\n  input: {example}" if example else ""),
             _DTYPE_HINT if expected.is_floating_point() and actual.is_floating_point() else hint)
    d_rtol, d_atol = tol(expected.dtype)
    rtol = d_rtol if rtol is None else rtol
    atol = d_atol if atol is None else atol
    if expected.dtype == torch.bool or not expected.is_floating_point():
        bad = actual.to(expected.dtype) != expected
        if bool(bad.any()):
            where = tuple(int(i) for i in bad.nonzero()[0])
            msg = (f"{what} differs at {int(bad.sum())} of {bad.numel()} positions, first at index {where}: "
                   f"got {actual[where].item()!r}, expected {expected[where].item()!r}")
            lines = _grid_lines(actual.to(expected.dtype), expected, where)
            if lines:
                msg += "\n" + "\n".join(lines)
            fail(msg + (f"\n  input: {example}" if example else ""), hint)
        return
    a = actual.detach().to(torch.float64)
    e = expected.detach().to(torch.float64)
    nan_a, nan_e = torch.isnan(a), torch.isnan(e)
    if bool((nan_a != nan_e).any()):
        odd = nan_a != nan_e
        where = tuple(int(i) for i in odd.nonzero()[0])
        kind = "NaN where a number was expected" if bool(nan_a[where]) else "a number where NaN was expected"
        fail(f"{what} has {kind} at {int(odd.sum())} of {odd.numel()} positions, first at index {where}: "
             f"got {a[where].item()}, expected {e[where].item()}"
             + ("\n  (NaN usually comes from a softmax over a row that is all -inf, 0/0, or sqrt/log of a "
                "negative number)" if bool(nan_a[where]) else "")
             + (f"\n  input: {example}" if example else ""), hint)
    finite = ~nan_e
    inf_mismatch = (torch.isinf(a) | torch.isinf(e)) & finite & (a != e)
    err = torch.where(finite, (a - e).abs(), torch.zeros_like(a))
    err = torch.where(inf_mismatch, torch.full_like(a, math.inf), err)
    allowed = atol + rtol * e.abs().nan_to_num(posinf=0.0, neginf=0.0)
    bad = err > allowed
    if bool(bad.any()):
        flat = int(torch.argmax(torch.where(bad, err, torch.zeros_like(err)).reshape(-1)))
        where = tuple(int(i) for i in torch.unravel_index(torch.tensor(flat), a.shape)) if a.dim() else ()
        msg = (f"{what} is off: max abs error {err.max().item():.3g} at index {where}: "
               f"got {_fmt(a[where].item())}, expected {_fmt(e[where].item())} "
               f"({int(bad.sum())} of {bad.numel()} values off; allowed {atol:g} + {rtol:g}·|expected|)")
        lines = [f"  looks like: {note}" for note in _diagnose(a, e, bad, expected.dtype)]
        lines += _row_lines(a, e, where)
        if example:
            lines.append(f"  input: {example}")
        fail(msg + "".join("\n" + ln for ln in lines), hint)


def _first_difference(actual: Any, expected: Any) -> str:
    """For two sequences: where they first differ (or how their lengths differ)."""
    if not (isinstance(actual, (list, tuple)) and isinstance(expected, (list, tuple))):
        return ""
    for i, (x, y) in enumerate(zip(actual, expected)):
        if x != y:
            return f"; first difference at position {i}: got {x!r}, expected {y!r}"
    if len(actual) != len(expected):
        return f"; got {len(actual)} items, expected {len(expected)}"
    return ""


def _clip(text: str, n: int = 200) -> str:
    return text if len(text) <= n else text[:n - 5] + " ...]"


def assert_equal(actual: Any, expected: Any, what: str, hint: str | None = None) -> None:
    """Exact equality for plain values (ints, strings, lists, tuples) and exact tensors."""
    if isinstance(expected, torch.Tensor):
        assert_close(actual, expected, what, rtol=0.0, atol=0.0, hint=hint)
        return
    if isinstance(actual, torch.Tensor):
        fail(f"{what} should be a plain {type(expected).__name__}, got a torch.Tensor "
             f"(use .item() or .tolist())", hint)
    other_type = type(actual) is not type(expected) and not _same_number_kind(actual, expected)
    if actual != expected or other_type:
        kinds = f" (a {_type_name(actual)}, expected a {_type_name(expected)})" if other_type else ""
        fail(f"{what}: got {_clip(repr(actual))}, expected {_clip(repr(expected))}{kinds}"
             + _first_difference(actual, expected)
             + (" (is a `return` missing?)" if actual is None else ""), hint)


def _same_number_kind(a: Any, b: Any) -> bool:
    num = (int, float)
    return isinstance(a, num) and isinstance(b, num) and not isinstance(a, bool) and not isinstance(b, bool)


def assert_number(actual: Any, expected: float, what: str, *, rel: float = 1e-9, abs_: float = 0.0,
                  hint: str | None = None) -> None:
    """A float-like scalar close to ``expected`` (relative ``rel``, absolute ``abs_``)."""
    if isinstance(actual, torch.Tensor) and actual.numel() == 1:
        actual = actual.item()
    if isinstance(actual, bool) or not isinstance(actual, (int, float)):
        fail(f"{what} should be a number, got "
             + ("None (is a `return` missing?)" if actual is None else f"{_type_name(actual)}: {describe(actual)}"),
             hint)
    if not math.isclose(float(actual), float(expected), rel_tol=rel, abs_tol=abs_):
        off = ""
        if expected:
            r = float(actual) / float(expected)
            simple = _near_root(abs(r)) if r else None
            exact = f"{'-' if r < 0 else ''}{simple}" if simple else ""
            off = f"; got/expected = {r:.6g}" + (f" = {exact} exactly" if exact and exact != f"{r:.6g}" else "")
        fail(f"{what}: got {actual!r}, expected {expected!r} (rel tol {rel:g}{off})", hint)


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
        fail(f"{what}: should raise ValueError, raised {type(e).__name__}: {e}",
             "check the argument first and raise ValueError naming it, before the computation fails on its own")
    fail(f"{what}: should raise ValueError, but returned normally",
         "check the argument first and raise ValueError naming it")


def unchanged(before: torch.Tensor, after: torch.Tensor, what: str) -> None:
    """Inputs must not be changed in place."""
    if before.shape != after.shape or not torch.equal(before, after):
        fail(f"{what} was changed in place; functions must not modify their inputs",
             "an in-place op (+=, x[...] = ..., .masked_fill_, .add_) on an argument; work on a copy (.clone())")


def call_each(fn: Callable, calls: list[tuple[tuple, dict]]) -> list:
    """``[fn(*args, **kwargs) for args, kwargs in calls]``, as one request when ``fn`` runs in the grader's
    worker (its proxy has ``_call_each``): a statistical test's thousands of calls then cost one round trip,
    and the generator objects in the arguments are shared by the calls exactly as here."""
    batched = getattr(type(fn), "_call_each", None)
    if batched is not None:
        return batched(fn, calls)
    return [fn(*args, **kwargs) for args, kwargs in calls]

