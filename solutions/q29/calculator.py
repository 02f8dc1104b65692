"""Q29 reference: digit chunking, an exact calculator by parsing (never eval), tool calls in text."""
from __future__ import annotations

import re
from fractions import Fraction

MODES = ("digit", "l2r3", "r2l3")
DIGITS = "0123456789"  # only ASCII digits count as digits
MAX_DIGITS = 4000      # a value whose numerator or denominator has more digits is a ValueError
MAX_DEPTH = 100        # nesting of parentheses, signs and exponents
_LIMIT = 10 ** MAX_DIGITS
_LOG10_2 = 0.30102999566398120
_OPERATORS = ("**", "//", "+", "-", "*", "/", "%", "(", ")")  # two-character ones first


# ---------------------------------------------------------------------------------------------
# 1. How a tokenizer may cut numbers
# ---------------------------------------------------------------------------------------------
def chunk_digits(text: str, mode: str) -> list[str]:
    """Cut text into pieces: each maximal run of non-digits is one piece; each maximal run of
    ASCII digits is cut by mode ("digit": one per digit, "l2r3": threes from the left, "r2l3":
    threes from the right). "".join(pieces) == text; no piece is empty."""
    if not isinstance(text, str):
        raise ValueError(f"text must be a str, got {type(text).__name__}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    pieces: list[str] = []
    for run in re.findall(r"[0-9]+|[^0-9]+", text):
        if run[0] not in DIGITS:
            pieces.append(run)
        elif mode == "digit":
            pieces.extend(run)
        elif mode == "l2r3":
            pieces.extend(run[i:i + 3] for i in range(0, len(run), 3))
        else:  # r2l3: the short group (if any) comes first, like thousands separators
            head = len(run) % 3
            if head:
                pieces.append(run[:head])
            pieces.extend(run[i:i + 3] for i in range(head, len(run), 3))
    return pieces


# ---------------------------------------------------------------------------------------------
# 2. The calculator: tokens -> recursive descent -> exact Fractions
# ---------------------------------------------------------------------------------------------
def _bounded(x: Fraction) -> Fraction:
    if abs(x.numerator) >= _LIMIT or x.denominator >= _LIMIT:
        raise ValueError(f"a value in expr has more than {MAX_DIGITS} digits")
    return x


def _number(text: str) -> Fraction:
    whole, _, frac = text.partition(".")
    if len(whole) + len(frac) > MAX_DIGITS:
        raise ValueError(f"a number in expr has more than {MAX_DIGITS} digits")
    return Fraction(int(whole + frac or "0"), 10 ** len(frac))


def _tokens(expr: str) -> list:
    """Numbers become Fractions; operators and parentheses stay strings."""
    out: list = []
    i, n = 0, len(expr)
    while i < n:
        c = expr[i]
        if c in " \t\r\n":
            i += 1
        elif c in DIGITS or c == "." and i + 1 < n and expr[i + 1] in DIGITS:
            j = i
            while j < n and expr[j] in DIGITS:
                j += 1
            if j < n and expr[j] == ".":
                j += 1
                while j < n and expr[j] in DIGITS:
                    j += 1
            out.append(_number(expr[i:j]))
            i = j
        else:
            op = next((o for o in _OPERATORS if expr.startswith(o, i)), None)
            if op is None:
                raise ValueError(f"expr may only hold numbers, + - * / // % ** and parentheses; "
                                 f"found {c!r} at position {i}")
            out.append(op)
            i += len(op)
    return out


def _power(base: Fraction, exponent: Fraction) -> Fraction:
    if exponent.denominator != 1:
        raise ValueError("an exponent in expr is not an integer (the result would not be exact)")
    e = exponent.numerator
    if base == 0 and e < 0:
        raise ValueError("division by zero in expr (0 to a negative power)")
    if base in (0, 1) or e == 0:
        return Fraction(1) if e == 0 else base
    if base == -1:
        return Fraction(-1 if e % 2 else 1)
    # Size first, compute second: |base|**e has at least |e|·log10(max(|p|, q)) digits.
    big = max(abs(base.numerator), base.denominator)
    if abs(e) * (big.bit_length() - 1) * _LOG10_2 > MAX_DIGITS:
        raise ValueError(f"a power in expr would have more than {MAX_DIGITS} digits")
    return _bounded(base ** e)


def _binary(op: str, a: Fraction, b: Fraction) -> Fraction:
    if op in ("/", "//", "%") and b == 0:
        raise ValueError("division by zero in expr")
    if op == "+":
        return _bounded(a + b)
    if op == "-":
        return _bounded(a - b)
    if op == "*":
        return _bounded(a * b)
    if op == "/":
        return _bounded(a / b)
    if op == "//":
        return _bounded(Fraction(a // b))  # floor, as Python
    return _bounded(a % b)                 # sign of the divisor, as Python


def _shown(tok) -> str:
    return "number" if isinstance(tok, Fraction) else repr(tok)


class _Parser:
    """Python's grammar and precedence for this small language:
        sum   := term (('+' | '-') term)*
        term  := unary (('*' | '/' | '//' | '%') unary)*
        unary := ('+' | '-') unary | power
        power := atom ('**' unary)?          # right-associative; -2**2 == -4, 2**-1 == 1/2
        atom  := NUMBER | '(' sum ')'
    """

    def __init__(self, tokens: list):
        self.tokens = tokens
        self.i = 0
        self.depth = 0

    def peek(self):
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self):
        tok = self.peek()
        self.i += 1
        return tok

    def deeper(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ValueError(f"expr is nested more than {MAX_DEPTH} levels deep")

    def sum(self) -> Fraction:
        value = self.term()
        while self.peek() in ("+", "-"):
            op = self.take()
            value = _binary(op, value, self.term())
        return value

    def term(self) -> Fraction:
        value = self.unary()
        while self.peek() in ("*", "/", "//", "%"):
            op = self.take()
            value = _binary(op, value, self.unary())
        return value

    def unary(self) -> Fraction:
        if self.peek() in ("+", "-"):
            op = self.take()
            self.deeper()
            value = self.unary()
            self.depth -= 1
            return -value if op == "-" else value
        return self.power()

    def power(self) -> Fraction:
        base = self.atom()
        if self.peek() != "**":
            return base
        self.take()
        self.deeper()
        exponent = self.unary()
        self.depth -= 1
        return _power(base, exponent)

    def atom(self) -> Fraction:
        tok = self.take()
        if isinstance(tok, Fraction):
            return tok
        if tok == "(":
            self.deeper()
            value = self.sum()
            self.depth -= 1
            if self.take() != ")":
                raise ValueError("expr has an unclosed parenthesis")
            return value
        raise ValueError("expr ended early" if tok is None else f"expr has an unexpected {_shown(tok)}")


def calculator(expr: str) -> int | Fraction:
    """Exact value of expr: an int when integral, else a Fraction. Never eval."""
    if not isinstance(expr, str):
        raise ValueError(f"expr must be a str, got {type(expr).__name__}")
    parser = _Parser(_tokens(expr))
    value = parser.sum()
    if parser.peek() is not None:
        raise ValueError(f"expr has an unexpected {_shown(parser.peek())} after a complete expression")
    return value.numerator if value.denominator == 1 else value


# ---------------------------------------------------------------------------------------------
# 3. Tool use: the model writes <calc>expr</calc>, the runtime fills in the exact result
# ---------------------------------------------------------------------------------------------
def _show(value: int | Fraction) -> str:
    return str(value) if isinstance(value, int) else f"{value.numerator}/{value.denominator}"


def _tool_call(match: re.Match) -> str:
    try:
        return _show(calculator(match.group(1)))
    except ValueError as e:
        raise ValueError(f"text: cannot compute {match.group(0)!r}: {e}") from None


def answer_with_tools(text: str) -> str:
    """text with every <calc>expr</calc> span (shortest match, may span lines) replaced by its result."""
    if not isinstance(text, str):
        raise ValueError(f"text must be a str, got {type(text).__name__}")
    return re.sub(r"<calc>(.*?)</calc>", _tool_call, text, flags=re.DOTALL)
