"""The one library of checks: used by the visible self-checks, the hidden suites and the notebooks.

Generic comparisons live in ``core``; per-question property checks in ``qNN`` modules (they take the
candidate's functions and raise ``CheckFailure``). Nothing here knows the reference answers.
"""
from .core import (CheckFailure, TOLERANCES, assert_close, assert_equal, assert_number, assert_shape,
                   assert_tensor, assert_true, call_each, expect_value_error, fail, tol, unchanged)
from .timing import Ratio, compare_speed

__all__ = [
    "CheckFailure", "TOLERANCES", "assert_close", "assert_equal", "assert_number", "assert_shape",
    "assert_tensor", "assert_true", "call_each", "expect_value_error", "fail", "tol", "unchanged",
    "Ratio", "compare_speed",
]
