"""Hidden suite for Q29: chunking against the contract and the reference, exact arithmetic against
Python's own int/Fraction arithmetic computed here, injections and blow-ups refused quickly, tool spans."""
import random
from fractions import Fraction

import pytest

from grader.checks import assert_equal, expect_value_error
from grader.checks import q29 as props
from grader.forbidden import assert_no_forbidden_calls

# ----------------------------------------------------------------------------------------------
# chunk_digits
# ----------------------------------------------------------------------------------------------
ALPHABET = "0123456789" * 4 + "abcxyz ,.+-=$\n" + "²٣é"  # mostly digits; a few non-ASCII digit look-alikes


def random_text(rng: random.Random) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 40)))


@pytest.mark.parametrize("mode", props.MODES)
@pytest.mark.parametrize("seed", range(4))
def test_chunk_random_texts(sub, ref, mode, seed):
    rng = random.Random(seed * 31 + len(mode))
    for _ in range(50):
        text = random_text(rng)
        got = props.check_chunks(sub.chunk_digits, text, mode)
        assert_equal(got, ref.chunk_digits(text, mode), f"chunk_digits({text!r}, {mode!r})")


@pytest.mark.parametrize("mode", props.MODES)
def test_chunk_every_run_length(sub, mode):
    for n in range(0, 13):
        digits = "".join(str((7 * i + 3) % 10) for i in range(n))
        for text in (digits, f"n={digits};", f"{digits} and {digits[::-1]}"):
            props.check_chunks(sub.chunk_digits, text, mode)


def test_chunk_edge_cases(sub):
    assert_equal(sub.chunk_digits("", "l2r3"), [], 'chunk_digits("", "l2r3")')
    assert_equal(sub.chunk_digits("hello, world", "digit"), ["hello, world"], 'chunk_digits("hello, world", "digit")')
    assert_equal(sub.chunk_digits("123456", "r2l3"), ["123", "456"], 'chunk_digits("123456", "r2l3")')
    assert_equal(sub.chunk_digits("1234", "r2l3"), ["1", "234"], 'chunk_digits("1234", "r2l3")')
    assert_equal(sub.chunk_digits("1234", "l2r3"), ["123", "4"], 'chunk_digits("1234", "l2r3")')


def test_chunk_only_ascii_digits(sub):
    text = "x²=٣45"
    assert_equal(sub.chunk_digits(text, "digit"), ["x²=٣", "4", "5"], f"chunk_digits({text!r}, 'digit')",
                 hint="only the ASCII digits 0-9 count; '²' and '٣' are ordinary characters (\\d matches '٣')")


@pytest.mark.parametrize("args,mentions", [(("123", "r2l4"), ("mode",)), (("123", "R2L3"), ("mode",)),
                                           (("123", ""), ("mode",)), (("no digits here", "bogus"), ("mode",)),
                                           ((123, "digit"), ("text",))])
def test_chunk_bad_arguments(sub, ref, args, mentions):
    text = args[0] if isinstance(args[0], str) else "x=1234567."
    assert_equal(sub.chunk_digits(text, "r2l3"), ref.chunk_digits(text, "r2l3"), f"chunk_digits({text!r}, 'r2l3')")
    expect_value_error(sub.chunk_digits, *args, what=f"chunk_digits{args}", mentions=mentions)


# ----------------------------------------------------------------------------------------------
# calculator: values
# ----------------------------------------------------------------------------------------------
def _leaf(rng: random.Random) -> tuple[str, Fraction]:
    r = rng.random()
    if r < 0.45:
        n = rng.randint(0, 10 ** rng.randint(1, 25))
        return str(n), Fraction(n)
    if r < 0.8:
        k = rng.randint(1, 6)
        whole, frac = rng.randint(0, 999), rng.randint(0, 10**k - 1)
        return f"{whole}.{frac:0{k}d}", Fraction(whole * 10**k + frac, 10**k)
    n = rng.randint(1, 9)
    return str(n), Fraction(n)


def random_expression(rng: random.Random, depth: int) -> tuple[str, Fraction]:
    """A fully parenthesised expression and its exact value, computed with Python's Fractions."""
    if depth == 0 or rng.random() < 0.25:
        return _leaf(rng)
    op = rng.choice(["+", "-", "*", "/", "//", "%", "**", "neg"])
    a_text, a = random_expression(rng, depth - 1)
    sp = " " * rng.randint(0, 2)
    if op == "neg":
        return f"-({a_text})", -a
    if op == "**":
        e = rng.randint(-3, 4)
        if a == 0 and e < 0:
            e = -e
        return f"({a_text}){sp}**{sp}{e}", a ** e
    b_text, b = random_expression(rng, depth - 1)
    if op in ("/", "//", "%") and b == 0:
        op = "+"
    value = {"+": a + b, "-": a - b, "*": a * b, "/": a / b if b else None,
             "//": Fraction(a // b) if b else None, "%": a % b if b else None}[op]
    return f"({a_text}){sp}{op}{sp}({b_text})", value


def exact(value: Fraction) -> int | Fraction:
    return value.numerator if value.denominator == 1 else value


@pytest.mark.parametrize("seed", range(6))
def test_random_expressions_exact(sub, seed):
    rng = random.Random(1000 + seed)
    done = 0
    while done < 40:
        text, value = random_expression(rng, depth=4)
        if max(abs(value.numerator), value.denominator) >= 10**900:
            continue  # stay well inside the 1000 digits that must work
        props.check_calculator(sub.calculator, text, exact(value))
        done += 1


UNPAREN_OPS = ["+", "-", "*", "//", "%", "/", "**"]


def random_flat(rng: random.Random) -> str:
    """Operators without parentheses: precedence and associativity decide."""
    parts = [rng.choice(["", "-", "--", "+"]) + str(rng.randint(1, 60))]
    for _ in range(rng.randint(1, 6)):
        op = rng.choice(UNPAREN_OPS)
        right = str(rng.randint(0, 3) if op == "**" else rng.randint(1, 60))
        parts += [op, rng.choice(["", "-"]) + right if op != "**" else right]
    return " ".join(parts)


@pytest.mark.parametrize("seed", range(4))
def test_precedence_against_reference(sub, ref, seed):
    rng = random.Random(77 + seed)
    for _ in range(60):
        text = random_flat(rng)
        try:
            expected = ref.calculator(text)
        except ValueError:
            continue  # e.g. a division by zero produced by a floor; tested elsewhere
        props.check_calculator(sub.calculator, text, expected, hint="Python's precedence: ** then unary "
                               "minus then * / // % then + -; ** is right-associative")


PRECEDENCE = [("1 + 2*3", 1 + 2 * 3), ("(1 + 2)*3", (1 + 2) * 3), ("7 - 3 - 2", 7 - 3 - 2), ("2*3 % 4", 2 * 3 % 4),
              ("100 // 7 // 2", 100 // 7 // 2), ("-2**2", -(2**2)), ("(-2)**2", (-2) ** 2), ("2**3**2", 2 ** 3 ** 2),
              ("2**-1", Fraction(1, 2)), ("-2**-2", Fraction(-1, 4)), ("--3", 3), ("+-+3", -3), ("2*-3", -6),
              ("2 - -3", 5), ("-7//2", -7 // 2), ("7//-2", 7 // -2), ("-7 % 3", -7 % 3), ("7 % -3", 7 % -3),
              ("7.5 // 2", 3), ("7.5 % 2", Fraction(3, 2)), ("-7.5 // 2", -4), ("1/2/2", Fraction(1, 4)),
              ("3 - 2**2*3", 3 - 2**2 * 3), ("(1/2)**-2", 4), ("(2/3)**3", Fraction(8, 27)), ("2**2**2**2", 2**16),
              ("2**(4/2)", 4), ("(-2)**(1+2)", -8), ("2**(0.5*4)", 4), ("(1/2)**(3-5)", 4)]


@pytest.mark.parametrize("expr,value", PRECEDENCE, ids=[p[0] for p in PRECEDENCE])
def test_python_precedence_and_rules(sub, expr, value):
    props.check_calculator(sub.calculator, expr, value, hint="follow Python: precedence, floor division, "
                           "the sign of %, right-associative **")


def test_big_integers_exact(sub):
    rng = random.Random(5)
    cases = [("2**200 + 1", 2**200 + 1), ("123456789*987654321", 123456789 * 987654321),
             ("2**3000", 2**3000), ("10**999", 10**999), ("3**600 - 3**599", 3**600 - 3**599),
             ("7**1000 / 7**999", 7), ("(2**127 - 1) % 1000000007", (2**127 - 1) % 1000000007)]
    for _ in range(10):
        a, b = rng.randint(10**30, 10**60), rng.randint(10**30, 10**60)
        cases += [(f"{a} * {b}", a * b), (f"{a} - {b}", a - b), (f"{a} // {b % 10**20 + 1}", a // (b % 10**20 + 1))]
    for expr, value in cases:
        props.check_calculator(sub.calculator, expr, value, hint="Python ints are exact at any size")


def test_fractions_and_decimals_exact(sub):
    for expr, value in (("1/3 + 1/6", Fraction(1, 2)), ("0.1 + 0.2", Fraction(3, 10)), ("1.5", Fraction(3, 2)),
                        ("0.1 * 3 - 0.3", 0), ("1/3 * 3", 1), ("4/2", 2), ("2.50", Fraction(5, 2)), ("2.0", 2),
                        ("1/3**600", Fraction(1, 3**600)), ("22/7 - 3.142857", Fraction(1, 7000000)),
                        ("(1/7)**-3", 343), ("1 / (1/3 - 1/4)", 12), ("  6 /  4 ", Fraction(3, 2)),
                        ("123456789.987654321 * 1000000000", 123456789987654321), ("0.000001", Fraction(1, 10**6))):
        props.check_calculator(sub.calculator, expr, value, hint='decimals are exact: "0.1" is Fraction(1, 10); '
                               "an integral value is returned as an int")


@pytest.mark.parametrize("expr,value", [("1\t+\t2", 3), ("1 +\n2", 3), ("\r\n6 * 7\r\n", 42), ("(1 +\n 2)\n* 3", 9),
                                        ("\t-\t2 ** 2", -4)])
def test_whitespace_anywhere_between_tokens(sub, expr, value):
    props.check_calculator(sub.calculator, expr, value, hint="spaces, tabs and newlines between tokens are ignored "
                           "(with ast.parse, first replace every whitespace run by one space)")


def test_nesting_within_reason_works(sub):
    props.check_calculator(sub.calculator, "(" * 30 + "2" + ")" * 30, 2)
    props.check_calculator(sub.calculator, "-" * 30 + "7", 7)
    props.check_calculator(sub.calculator, "1" + " + 1" * 100, 101)  # long, but flat


@pytest.mark.timeout(10)
def test_deep_nesting_never_crashes(sub):
    props.check_value_or_rejected(sub.calculator, "(" * 5000 + "1" + ")" * 5000, 1, "5000 nested parentheses")
    props.check_value_or_rejected(sub.calculator, "-" * 5000 + "1", 1, "5000 unary minus signs")
    props.check_value_or_rejected(sub.calculator, "1" + "**1" * 5000, 1, "5000 chained powers")


# ----------------------------------------------------------------------------------------------
# calculator: what must be refused
# ----------------------------------------------------------------------------------------------
INJECTIONS = ["__import__('os').system('echo pwned')", "().__class__.__bases__[0].__subclasses__()",
              "(1).__class__", "open('/etc/passwd').read()", "x", "x + 1", "abs(-1)", "print(1)", "eval('1')",
              "lambda: 1", "(lambda: 1)()", "[i for i in range(10)]", "{1: 2}", "[1]", "(1, 2)", "1, 2", "'a' * 10",
              '"1" + "1"', "f'{1}'", "1 if 1 else 2", "1 == 1", "1 < 2", "not 1", "1 and 2", "~1", "1 << 10",
              "1 & 3", "1 | 2", "1 ^ 3", "1 @ 2", "0x10", "0b101", "1_000", "1e5", "1j", "True", "None", "...",
              "1; 2", "a = 1", "(a := 1)", "1 .real", "2 ** 2 .bit_length()",
              "٣ + 1", "１２ * 2", "2²"]  # non-ASCII digits are not numbers of the language (int("٣") == 3 in Python)
MALFORMED = ["", "   ", "(", ")", "()", "1 +", "+", "* 2", "1 2", "(1", "1)", "1 **", "2 // / 3", "1 +* 2",
             "1 *** 2", "1 //// 2", "(1 + 2", "1 + 2)", "((1)",
             "(1)(2)", "2(3)", "(2)3"]  # no implicit multiplication
ZERO = ["1/0", "1//0", "1 % 0", "5 / (2 - 2)", "0**-1", "(1 - 1)**-2", "1 / (0.5 - 1/2)", "7.5 // 0.0"]
NOT_INTEGER_EXPONENT = ["4**0.5", "2**(1/2)", "8**(1/3)", "(-8)**(1/3)"]
BLOW_UPS = ["9**9**9", "9**9**9**9", "2**2**2**2**2**2", "10**10**10", "-(9**9**9)", "(-9)**9**9",
            "(10**1000)**20", "10**5000", "7**100000", "(1/2)**100000", "0.5**-100000", "99999999999**99999",
            "10**3000 * 10**3000", "10**3000 * 10**3000 / 7", "1 / 10**5000", "1" * 5000, "1" * 5000 + " + 1",
            "2**10000 * 2**10000 * 2**10000", "(2**4000)**4000", "(9**9**9) * 0",
             # a fractional base: size it by its numerator AND denominator (int(1.5) == 1 says nothing)
             "(1/9)**9**9", "1.5**9**9", "(-1/2)**9**9", "0.1**-(9**9)", "(2/3)**-(9**9)",
             # just past the limit: 4001 digits, also as an intermediate value of a small result
             "10**4000", "-(10**4000)", "1/10**4000", "10**2000 * 10**2000",
             "10**3000 * 10**3000 // 10**3000 // 10**3000"]


@pytest.mark.timeout(5)
@pytest.mark.parametrize("expr", INJECTIONS)
def test_injections_rejected(sub, expr):
    props.check_rejected(sub.calculator, expr, "not arithmetic: parse a tiny language, never run Python")


@pytest.mark.timeout(5)
@pytest.mark.parametrize("expr", MALFORMED)
def test_malformed_rejected(sub, expr):
    props.check_rejected(sub.calculator, expr, "malformed")


@pytest.mark.timeout(5)
@pytest.mark.parametrize("expr", ZERO)
def test_division_by_zero_rejected(sub, expr):
    props.check_rejected(sub.calculator, expr, "division by zero must be a ValueError")


@pytest.mark.timeout(5)
@pytest.mark.parametrize("expr", NOT_INTEGER_EXPONENT)
def test_non_integer_exponent_rejected(sub, expr):
    props.check_rejected(sub.calculator, expr, "a non-integer exponent has no exact result")


@pytest.mark.timeout(5)
@pytest.mark.parametrize("expr", BLOW_UPS, ids=lambda e: e if len(e) < 40 else f"{e[:12]}..{len(e)}chars")
def test_blow_ups_rejected_quickly(sub, expr):
    """Each must be refused at once (the reference takes microseconds; the limit is a safety net)."""
    props.check_rejected(sub.calculator, expr, "a value with more than 4000 digits; size a power before computing it")


@pytest.mark.parametrize("bad", [12, None, 1.5])
def test_calculator_bad_type(sub, bad):
    props.check_calculator(sub.calculator, "6*7", 42)
    expect_value_error(sub.calculator, bad, what=f"calculator({bad!r})", mentions=("expr",))


@pytest.mark.forbidden
def test_calculator_uses_no_eval(sub):
    props.check_calculator(sub.calculator, "6*7", 42)
    assert_no_forbidden_calls(sub, "calculator")


# ----------------------------------------------------------------------------------------------
# answer_with_tools
# ----------------------------------------------------------------------------------------------
FILLERS = ["", " ", "The answer is ", ", and ", ".\n", "x = ", " (approx.) ", "<calc", "calc>", "</calc",
           "1+1", "<b>bold</b>", "3 < 4 > 2", "/calc>"]


def shown(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


@pytest.mark.parametrize("seed", range(4))
def test_answer_with_tools_random(sub, ref, seed):
    rng = random.Random(500 + seed)
    for _ in range(25):
        text, expected = "", ""
        for _ in range(rng.randint(0, 4)):
            filler = rng.choice(FILLERS)
            expr, value = random_expression(rng, depth=2)
            text += filler + f"<calc>{expr}</calc>"
            expected += filler + shown(value)
        tail = rng.choice(FILLERS)
        text, expected = text + tail, expected + tail
        got = sub.answer_with_tools(text)
        assert_equal(got, expected, f"answer_with_tools({text!r})",
                     hint="ints as 42, Fractions as a/b; everything outside the spans unchanged")
        assert_equal(got, ref.answer_with_tools(text), f"answer_with_tools({text!r})")


@pytest.mark.parametrize("text,expected", [
    ("no tools here", "no tools here"),
    ("", ""),
    ("<calc>1</calc> and <calc>2</calc>", "1 and 2"),
    ("<calc>1</calc><calc>2</calc>", "12"),
    ("<calc>1 - 2.25</calc>", "-5/4"),
    ("<calc>-5</calc>", "-5"),
    ("<calc>2**200</calc>!", f"{2**200}!"),
    ("a <calc>(3 *\n 4)</calc> b", "a 12 b"),
    ("<calc>1/3</calc>\n<calc>\n2/6\n</calc>", "1/3\n1/3"),
    ("open <calc>1+1 but never closed", "open <calc>1+1 but never closed"),
    ("</calc> <calc>2*3</calc> <calc>", "</calc> 6 <calc>"),
])
def test_answer_with_tools_cases(sub, text, expected):
    assert_equal(sub.answer_with_tools("<calc>6*7</calc>"), "42", 'answer_with_tools("<calc>6*7</calc>")')
    assert_equal(sub.answer_with_tools(text), expected, f"answer_with_tools({text!r})",
                 hint="spans are the SHORTEST <calc>...</calc> matches and may contain newlines")


@pytest.mark.timeout(5)
@pytest.mark.parametrize("text", ["<calc>1/0</calc>", "ok <calc>1+1</calc> then <calc>x</calc>", "<calc></calc>",
                                  "<calc>__import__('os').system('echo pwned')</calc>", "<calc>9**9**9</calc>",
                                  "<calc>1 + <calc>2</calc>"])
def test_answer_with_tools_bad_expression(sub, text):
    good = "ok <calc>1+1</calc> then <calc>1/4</calc>"
    assert_equal(sub.answer_with_tools(good), "ok 2 then 1/4", f"answer_with_tools({good!r})")
    expect_value_error(sub.answer_with_tools, text, what=f"answer_with_tools({text!r})")


def test_answer_with_tools_bad_type(sub):
    assert_equal(sub.answer_with_tools("<calc>6*7</calc>"), "42", 'answer_with_tools("<calc>6*7</calc>")')
    expect_value_error(sub.answer_with_tools, 42, what="answer_with_tools(42)", mentions=("text",))


@pytest.mark.forbidden
def test_answer_with_tools_uses_no_eval(sub):
    assert_equal(sub.answer_with_tools("<calc>6*7</calc>"), "42", 'answer_with_tools("<calc>6*7</calc>")')
    assert_no_forbidden_calls(sub, "answer_with_tools")
