"""Self-check for Q29. Run: pytest exercises/q29"""
from fractions import Fraction

import pytest

from grader.checks import assert_equal, expect_value_error
from grader.checks import q29 as props


def test_chunks_by_hand(sub):
    assert_equal(sub.chunk_digits("x=1234567.", "r2l3"), ["x=", "1", "234", "567", "."],
                 'chunk_digits("x=1234567.", "r2l3")', hint="threes from the right; the short group first")
    assert_equal(sub.chunk_digits("x=1234567.", "l2r3"), ["x=", "123", "456", "7", "."],
                 'chunk_digits("x=1234567.", "l2r3")', hint="threes from the left; the short group last")
    assert_equal(sub.chunk_digits("pi 3.14", "digit"), ["pi ", "3", ".", "1", "4"], 'chunk_digits("pi 3.14", "digit")')


@pytest.mark.parametrize("mode", props.MODES)
def test_chunk_properties(sub, mode):
    for text in ("523189", "123456 + 7 = ?", "", "no digits here", "9", "10,000,000", "a1b22c333d4444"):
        props.check_chunks(sub.chunk_digits, text, mode)


def test_exact_arithmetic(sub):
    props.check_calculator(sub.calculator, "2**200 + 1", 2**200 + 1)
    props.check_calculator(sub.calculator, "123456789*987654321", 123456789 * 987654321)
    props.check_calculator(sub.calculator, "1/3 + 1/6", Fraction(1, 2))
    props.check_calculator(sub.calculator, "0.1 + 0.2", Fraction(3, 10), hint='"0.1" is exactly Fraction(1, 10)')
    props.check_calculator(sub.calculator, "1.5", Fraction(3, 2))
    props.check_calculator(sub.calculator, "4/2", 2)


def test_python_precedence(sub):
    for expr, value in (("1 + 2*3", 1 + 2 * 3), ("-2**2", -(2**2)), ("2**3**2", 2**(3**2)),
                        ("2**-1", Fraction(1, 2)), ("-7//2", -7 // 2), ("-7 % 3", -7 % 3), ("(1+2)*3", 9)):
        props.check_calculator(sub.calculator, expr, value, hint="use Python's precedence and rules")


@pytest.mark.timeout(5)
def test_injections_are_rejected(sub):
    for expr, why in (("__import__('os')", "a call"), ("().__class__", "attribute access"), ("x + 1", "a name"),
                      ("'a' * 3", "a string"), ("lambda: 1", "a lambda"), ("1/0", "division by zero"),
                      ("10**10**6", "a million digits: size powers before computing them")):
        props.check_rejected(sub.calculator, expr, why)


def test_answer_with_tools(sub):
    text = "It costs <calc>3*19.99</calc> in total, <calc>1/3</calc> each."
    assert_equal(sub.answer_with_tools(text), "It costs 5997/100 in total, 1/3 each.", f"answer_with_tools({text!r})")
    expect_value_error(sub.answer_with_tools, "<calc>1/0</calc>", what='answer_with_tools("<calc>1/0</calc>")')


def test_bad_arguments(sub):
    expect_value_error(sub.chunk_digits, "123", "r2l4", what='chunk_digits("123", "r2l4")', mentions=("mode",))
    expect_value_error(sub.calculator, 12, what="calculator(12) (not a str)", mentions=("expr",))
