"""Self-check for Q26. Run: pytest exercises/q26

Oracles: hand-worked cases and torch's own modules (nn.BatchNorm1d/2d, nn.LayerNorm, nn.RMSNorm)."""
import torch

from grader.checks import assert_close, expect_value_error
from grader.checks import q26 as props

f64 = torch.float64


def test_batch_norm_by_hand(sub):
    # one channel, values 1 and 3: mean 2, BIASED variance 1 -> -1 and +1 (unbiased would give ±0.707)
    x = torch.tensor([[1.0], [3.0]], dtype=f64)
    got = sub.batch_norm(x, torch.ones(1, dtype=f64), torch.zeros(1, dtype=f64), eps=0.0)
    assert_close(got, torch.tensor([[-1.0], [1.0]], dtype=f64), "batch_norm([[1], [3]], eps=0)",
                 hint="biased variance: divide by the count N, not N - 1")


def test_layer_norm_by_hand(sub):
    # the vector [1, 3]: mean 2, variance 1 -> [-1, 1]; then * gamma [2, 1] + beta [0, 10]
    x = torch.tensor([[1.0, 3.0]], dtype=f64)
    got = sub.layer_norm(x, torch.tensor([2.0, 1.0], dtype=f64), torch.tensor([0.0, 10.0], dtype=f64), eps=0.0)
    assert_close(got, torch.tensor([[-2.0, 11.0]], dtype=f64), "layer_norm([[1, 3]], gamma=[2, 1], beta=[0, 10], eps=0)")


def test_rms_norm_by_hand(sub):
    # [2, -2, 2, -2]: mean square 4, root 2 -> [1, -1, 1, -1]; the mean is NOT subtracted
    x = torch.tensor([2.0, -2.0, 2.0, -2.0], dtype=f64)
    assert_close(sub.rms_norm(x, torch.ones(4, dtype=f64), eps=0.0), x / 2, "rms_norm([2, -2, 2, -2], eps=0)")
    y = torch.tensor([1.0, 3.0], dtype=f64)  # mean square 5
    assert_close(sub.rms_norm(y, torch.ones(2, dtype=f64), eps=0.0), y / 5 ** 0.5, "rms_norm([1, 3], eps=0)",
                 hint="RMSNorm does not subtract the mean")


def test_batch_norm_matches_torch(sub):
    g = torch.Generator().manual_seed(0)
    for shape in [(8, 3), (4, 3, 7), (2, 4, 5, 6), (1, 3, 5)]:
        for dtype in (torch.float32, f64):
            x = torch.randn(*shape, generator=g, dtype=dtype) * 2 + 0.5
            gamma = torch.rand(shape[1], generator=g, dtype=dtype) + 0.5
            beta = torch.randn(shape[1], generator=g, dtype=dtype)
            props.matches_torch_batch_norm(sub.batch_norm, x, gamma, beta)
    x = torch.randn(8, 3, 4, generator=g, dtype=f64)
    props.batch_dependent(sub.batch_norm, x, torch.ones(3, dtype=f64), torch.zeros(3, dtype=f64))


def test_layer_norm_and_rms_norm_match_torch(sub):
    g = torch.Generator().manual_seed(1)
    for shape in [(6,), (4, 8), (2, 3, 8)]:
        for dtype in (torch.float32, f64):
            x = torch.randn(*shape, generator=g, dtype=dtype) * 2 + 0.5
            gamma = torch.rand(shape[-1], generator=g, dtype=dtype) + 0.5
            beta = torch.randn(shape[-1], generator=g, dtype=dtype)
            props.matches_torch_layer_norm(sub.layer_norm, x, gamma, beta)
            props.matches_torch_rms_norm(sub.rms_norm, x, gamma, eps=1e-6)
            props.matches_torch_rms_norm(sub.rms_norm, x, gamma, eps=0.1)


def test_invariances(sub):
    g = torch.Generator().manual_seed(2)
    x = torch.randn(4, 3, 8, generator=g, dtype=f64)
    w = torch.rand(8, generator=g, dtype=f64) + 0.5
    b = torch.randn(8, generator=g, dtype=f64)
    props.rms_norm_scale_invariant(sub.rms_norm, x, w, c=7.0)
    props.layer_norm_shift_invariant(sub.layer_norm, x, w, b, shift=torch.randn(4, 3, 1, generator=g, dtype=f64))
    props.per_sample(sub.layer_norm, x, w, b, name="layer_norm")


def test_batch_of_one(sub):
    expect_value_error(sub.batch_norm, torch.randn(1, 3), torch.ones(3), torch.zeros(3),
                       what="batch_norm(x of shape (1, 3)) (one value per channel)", mentions=("x", "channel"))


def test_bad_arguments(sub):
    expect_value_error(sub.layer_norm, torch.randn(4, 6), torch.ones(5), torch.zeros(6),
                       what="layer_norm with gamma of the wrong size", mentions=("gamma",))
    expect_value_error(sub.rms_norm, torch.randn(4, 3), torch.ones(3), -1.0,
                       what="rms_norm(..., eps=-1)", mentions=("eps",))
