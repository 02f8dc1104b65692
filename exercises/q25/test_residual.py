"""Self-check for Q25. Run: pytest exercises/q25"""
import torch

from grader.checks import assert_close, expect_value_error
from grader.checks import q25 as props


def test_blocks_by_hand(sub):
    x = torch.tensor([[1.0, 3.0]], dtype=torch.float64)
    times10 = lambda h: 10 * h  # noqa: E731
    # standardize([1, 3]) = [-1, 1]
    assert_close(sub.residual(x, times10), torch.tensor([[11.0, 33.0]], dtype=torch.float64),
                 "residual([[1, 3]], 10*h)")
    assert_close(sub.pre_norm_block(x, times10, props.standardize), torch.tensor([[-9.0, 13.0]], dtype=torch.float64),
                 "pre_norm_block([[1, 3]], 10*h, standardize)", hint="x + sublayer(norm(x)) = [1, 3] + 10*[-1, 1]")
    assert_close(sub.post_norm_block(x, times10, props.standardize), torch.tensor([[-1.0, 1.0]], dtype=torch.float64),
                 "post_norm_block([[1, 3]], 10*h, standardize)", hint="norm(x + sublayer(x)) = norm([11, 33])")


def test_identity_paths(sub):
    x = torch.randn(3, 5, 8, generator=torch.Generator().manual_seed(0))
    props.zero_sublayer_paths(sub.residual, sub.pre_norm_block, sub.post_norm_block, x)


def test_each_piece_called_once(sub):
    props.each_called_once(sub.residual, sub.pre_norm_block, sub.post_norm_block, torch.randn(2, 6))


def test_depth_zero(sub):
    props.depth_zero(sub.input_grad_norm)


def test_gradient_vanishes_without_residual(sub):
    props.gradient_vanishes_without_residual(sub.input_grad_norm, seed=0)


def test_seeded(sub):
    props.seeded(sub.input_grad_norm)


def test_bad_arguments(sub):
    expect_value_error(sub.residual, torch.ones(2, 3), "not callable", what="residual with a string sublayer",
                       mentions=("sublayer",))
    expect_value_error(sub.input_grad_norm, -1, True, torch.Generator(), what="input_grad_norm(depth=-1, ...)",
                       mentions=("depth",))
