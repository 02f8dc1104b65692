"""Q29 property checks, shared by the self-check and the hidden suite."""
from __future__ import annotations

from fractions import Fraction

from .core import expect_value_error, fail

ASCII_DIGITS = frozenset("0123456789")
MODES = ("digit", "l2r3", "r2l3")


def _is_digits(piece: str) -> bool:
    return all(c in ASCII_DIGITS for c in piece)


def _expected_sizes(n: int, mode: str) -> list[int]:
    """How a maximal digit run of length n is cut."""
    if mode == "digit":
        return [1] * n
    rest = [n % 3] if n % 3 else []
    return [3] * (n // 3) + rest if mode == "l2r3" else rest + [3] * (n // 3)


def check_chunks(chunk_digits, text: str, mode: str) -> list[str]:
    """chunk_digits(text, mode) satisfies the whole contract; returns the pieces.

    Pieces join back to text, none is empty, each is all ASCII digits or has none, a maximal run of
    non-digits is one piece, and a maximal run of digits is cut into the sizes the mode asks for.
    """
    what = f"chunk_digits({text!r}, {mode!r})"
    got = chunk_digits(text, mode)
    if not isinstance(got, list) or not all(isinstance(p, str) for p in got):
        fail(f"{what} should return a list of str, got {got!r}")
    if "".join(got) != text:
        fail(f"{what} = {got!r}: the pieces do not join back to the text", hint='"".join(pieces) == text')
    if "" in got:
        fail(f"{what} = {got!r} holds an empty piece", hint="with r2l3, a run whose length is a multiple "
             "of 3 has no short head group")
    for p in got:
        if not _is_digits(p) and any(c in ASCII_DIGITS for c in p):
            fail(f"{what} = {got!r}: piece {p!r} mixes digits and other characters",
                 hint="cut the text into maximal digit runs and non-digit runs first")
    i = 0
    while i < len(got):
        if not _is_digits(got[i]):
            if i + 1 < len(got) and not _is_digits(got[i + 1]):
                fail(f"{what} = {got!r}: non-digit text {got[i]!r} + {got[i + 1]!r} should be one piece",
                     hint="a maximal run of non-digit characters is kept whole")
            i += 1
            continue
        j = i
        while j < len(got) and _is_digits(got[j]):
            j += 1
        run = "".join(got[i:j])
        sizes, want = [len(p) for p in got[i:j]], _expected_sizes(len(run), mode)
        if sizes != want:
            fail(f"{what}: the digit run {run!r} was cut as {got[i:j]!r} (sizes {sizes}), expected sizes {want}",
                 hint={"digit": "every digit is its own piece",
                       "l2r3": "groups of three from the LEFT; the short group (if any) is last",
                       "r2l3": "groups of three from the RIGHT, like thousands separators; the short group "
                               "(if any) is first"}.get(mode))
        i = j
    return got


def _kind(x) -> str:
    return type(x).__name__


def assert_exact(actual, expected: int | Fraction, what: str, hint: str | None = None) -> None:
    """An exact result: an int (not bool, not float, not Fraction) when integral, else a Fraction."""
    if isinstance(expected, Fraction) and expected.denominator == 1:
        expected = expected.numerator
    if type(expected) is int:
        if type(actual) is not int:
            if isinstance(actual, (int, float, Fraction)) and not isinstance(actual, bool) and actual == expected:
                fail(f"{what} returned {actual!r} ({_kind(actual)}); an integral result must be the int "
                     f"{expected}", hint="return value.numerator when value.denominator == 1")
            fail(f"{what}: got {_short(actual)} ({_kind(actual)}), expected the int {_short(expected)}", hint)
        if actual != expected:
            fail(f"{what}: got {_short(actual)}, expected {_short(expected)}", hint)
        return
    if not isinstance(actual, Fraction):
        fail(f"{what}: got {_short(actual)} ({_kind(actual)}), expected Fraction({expected.numerator}, "
             f"{expected.denominator})", hint or "results must be exact: floats cannot hold 1/3 or 0.1")
    if actual != expected:
        fail(f"{what}: got {actual!r}, expected {expected!r}", hint)


def _short(x) -> str:
    s = repr(x)
    return s if len(s) <= 80 else f"{s[:36]}...{s[-36:]} ({len(s)} characters)"


def check_calculator(calculator, expr: str, expected: int | Fraction, hint: str | None = None) -> None:
    assert_exact(calculator(expr), expected, f"calculator({expr!r})", hint)


def check_rejected(calculator, expr: str, why: str) -> None:
    """calculator(expr) raises ValueError (it is not arithmetic, or is too big to compute)."""
    shown = expr if len(expr) <= 60 else f"{expr[:25]}...{expr[-25:]}"
    expect_value_error(calculator, expr, what=f"calculator({shown!r}) ({why})")


def check_value_or_rejected(calculator, expr: str, expected: int | Fraction, why: str) -> None:
    """Either the right value or a ValueError, but never another exception (e.g. RecursionError)."""
    shown = expr if len(expr) <= 60 else f"{expr[:25]}...{expr[-25:]} ({len(expr)} characters)"
    try:
        got = calculator(expr)
    except ValueError:
        return
    except NotImplementedError:
        raise
    except Exception as e:  # noqa: BLE001 - anything but ValueError is a crash
        fail(f"calculator({shown!r}) ({why}) raised {type(e).__name__}: {str(e)[:100]}; it should return "
             f"{expected!r} or raise ValueError", hint="count the nesting depth and raise ValueError past a limit")
    assert_exact(got, expected, f"calculator({shown!r})")
