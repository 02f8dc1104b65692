"""Self-check for Q37. Run: pytest exercises/q37"""
import math

import pytest
import torch

from grader.checks import assert_close, assert_equal, expect_value_error
from grader.checks import q37 as props


def test_frequencies_by_hand(sub):
    # d = 4, base = 100: theta_0 = 100^0 = 1, theta_1 = 100^(-2/4) = 0.1
    assert_close(sub.rope_frequencies(4, 100.0), torch.tensor([1.0, 0.1], dtype=torch.float64),
                 "rope_frequencies(4, 100)", hint="theta_i = base^(-2i/d), float64")


def test_rotation_by_hand(sub):
    # d = 4, base = 100, position 1: pair 0 turns by 1 rad, pair 1 by 0.1 rad.
    c0, s0, c1, s1 = math.cos(1.0), math.sin(1.0), math.cos(0.1), math.sin(0.1)
    x = torch.tensor([[1.0, 2.0, 3.0, 4.0]], dtype=torch.float64)
    # half-split pairs (x0, x2) and (x1, x3)
    half = torch.tensor([[1 * c0 - 3 * s0, 2 * c1 - 4 * s1, 3 * c0 + 1 * s0, 4 * c1 + 2 * s1]], dtype=torch.float64)
    # interleaved pairs (x0, x1) and (x2, x3)
    inter = torch.tensor([[1 * c0 - 2 * s0, 2 * c0 + 1 * s0, 3 * c1 - 4 * s1, 4 * c1 + 3 * s1]], dtype=torch.float64)
    assert_close(sub.apply_rope(x, torch.tensor([1]), base=100.0), half,
                 "apply_rope([1, 2, 3, 4], position 1, base=100) (half-split pairs (0, 2), (1, 3))")
    assert_close(sub.apply_rope(x, torch.tensor([1]), base=100.0, interleaved=True), inter,
                 "apply_rope([1, 2, 3, 4], position 1, base=100, interleaved=True) (pairs (0, 1), (2, 3))")


@pytest.mark.parametrize("interleaved", [False, True])
def test_rope_properties(sub, interleaved):
    props.identity_at_position_zero(sub.apply_rope, interleaved=interleaved, seed=0)
    props.preserves_norms(sub.apply_rope, interleaved=interleaved, seed=0)
    props.scores_depend_only_on_offset(sub.apply_rope, interleaved=interleaved, seed=0)


def test_the_two_pairings(sub):
    props.pairings_are_a_permutation(sub.apply_rope, seed=0)


def test_float32_in_float32_out(sub):
    x = torch.ones(2, 3, 8)
    out = sub.apply_rope(x, torch.arange(3))
    assert_equal(str(out.dtype), "torch.float32", "apply_rope(float32 x).dtype")


def test_sinusoidal(sub):
    props.sinusoidal_matches_formula(sub.sinusoidal_positions, T=6, d=8)


def test_wavelengths(sub):
    # d = 4, base = 100: wavelengths 2π·1 ≈ 6.28 and 2π·10 ≈ 62.8 tokens
    assert_equal(sub.rope_wavelengths_beyond(4, 100.0, 10), 1, "rope_wavelengths_beyond(4, 100, 10)")
    assert_equal(sub.rope_wavelengths_beyond(4, 100.0, 5), 2, "rope_wavelengths_beyond(4, 100, 5)")
    props.wavelengths_count_by_definition(sub.rope_wavelengths_beyond, head_dim=128, base=10000.0,
                                          trained_len=4096)


def test_bad_arguments(sub):
    expect_value_error(sub.apply_rope, torch.ones(3, 5), torch.arange(3), what="apply_rope on x [3, 5] (odd D)",
                       mentions=("D", "head", "even"))
    expect_value_error(sub.rope_frequencies, 7, what="rope_frequencies(7)", mentions=("head_dim",))
