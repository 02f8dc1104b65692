"""Q29: why LLMs get arithmetic wrong, and the fix (a tool). Read README.md; self-check: pytest exercises/q29

Never use eval, exec or compile (nor getattr, __import__, ...): parse the expression yourself
(a small recursive-descent parser, or ast.parse with a whitelist of node types). The grader's check
is static: the builtins eval/exec/compile and dynamic look-ups are flagged; re.compile and ast.parse are fine.
"""
from __future__ import annotations

from fractions import Fraction


def chunk_digits(text: str, mode: str) -> list[str]:
    """Cut text into the pieces a tokenizer might see; "".join(pieces) == text, no piece is empty.

    Each maximal run of non-digit characters is ONE piece. Each maximal run of ASCII digits 0-9
    (only those count as digits) is cut according to mode:
      "digit": one piece per digit                      "1234567" -> 1|2|3|4|5|6|7
      "l2r3":  groups of 3 from the left, short last    "1234567" -> 123|456|7
      "r2l3":  groups of 3 from the right, short first  "1234567" -> 1|234|567  (thousands separators)
    Another mode, or a text that is not a str, is a ValueError.
    """
    raise NotImplementedError


def calculator(expr: str) -> int | Fraction:
    """The exact value of an arithmetic expression: an int when integral, else a fractions.Fraction.

    Language (Python's precedence): numbers 12 or 1.25 (a decimal is exact: "0.1" is Fraction(1, 10)),
    + - * / // % **, unary + and -, parentheses, whitespace (spaces, tabs, newlines) around tokens.
    Only ASCII digits; no implicit products ("(1)(2)" is a ValueError). / is exact division,
    // floors, % takes the sign of the divisor, ** is right-associative and binds tighter than a
    unary minus on its left (-2**2 == -4, 2**-1 == Fraction(1, 2)); an exponent must be an integer.
    ValueError for: anything else (names, calls, attributes, strings, ...), division by zero, a value
    (intermediate or final) with more than 4000 digits - decided BEFORE computing a power, so 9**9**9
    and (1/9)**9**9 are refused at once - and nesting too deep for your parser (30 levels must work; deeper may be a
    ValueError, never a RecursionError). Values up to 1000 digits must work.
    """
    raise NotImplementedError


def answer_with_tools(text: str) -> str:
    """text with every <calc>expr</calc> span replaced by calculator(expr).

    Spans are the shortest matches and may contain newlines; ints print as 42, Fractions as 3/4
    (-3/4 when negative). Text outside the spans is unchanged. A bad expression is a ValueError.
    """
    raise NotImplementedError
