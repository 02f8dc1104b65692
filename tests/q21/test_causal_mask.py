"""Hidden suite for Q21: exact masks against the reference, the leak property, bad arguments."""
import pytest
import torch

from grader.checks import assert_close, expect_value_error, unchanged
from grader.checks import q21 as props

SQUARE = [1, 2, 3, 7, 16]
RECT = [(1, 1, None), (1, 9, None), (3, 8, None), (4, 4, 0), (2, 6, 1), (3, 3, 5), (2, 10, 8), (0, 4, None),
        (5, 3, 2), (1, 6, 0)]


def mask_case(sub, ref, t_q, t_k=None, past_len=None):
    """The square causal_mask(4) first, then the case: several cases are degenerate (one query, no query,
    every key visible), and a mask that is right only there (the diagonal alone, all True) must earn nothing."""
    assert_close(sub.causal_mask(4), ref.causal_mask(4), "causal_mask(4)",
                 hint="(i, j) is True iff j <= past_len + i: lower triangular, the diagonal included")
    args = (t_q,) if t_k is None and past_len is None else (t_q, t_k)
    assert_close(sub.causal_mask(*args, past_len=past_len), ref.causal_mask(*args, past_len=past_len),
                 f"causal_mask({', '.join(map(str, args))}, past_len={past_len})")


@pytest.mark.parametrize("t", SQUARE)
def test_square_masks(sub, ref, t):
    mask_case(sub, ref, t)


@pytest.mark.parametrize("t_q,t_k,past_len", RECT)
def test_rectangular_masks(sub, ref, t_q, t_k, past_len):
    mask_case(sub, ref, t_q, t_k, past_len)


def test_decoding_rows(sub):
    for t in (1, 5, 12):
        props.decoding_rows_match_training(sub.causal_mask, t=t)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("lead", [(), (3,), (2, 4)])
def test_masked_scores(sub, ref, dtype, lead):
    g = torch.Generator().manual_seed(len(lead) * 7 + (dtype == torch.float64))
    scores = torch.randn(*lead, 5, 7, generator=g, dtype=dtype)
    mask = torch.rand(5, 7, generator=g) > 0.4
    expected = ref.masked_scores(scores, mask)  # before the call: a submission may not rewrite its inputs
    before, mask_before = scores.clone(), mask.clone()
    got = sub.masked_scores(scores, mask)
    unchanged(before, scores, "scores")
    unchanged(mask_before, mask, "mask")
    assert_close(got, expected, f"masked_scores(scores {tuple(scores.shape)}, mask)")


def test_masked_scores_full_mask_shape(sub, ref):
    g = torch.Generator().manual_seed(3)
    scores = torch.randn(2, 3, 4, 4, generator=g)
    mask = torch.rand(2, 1, 4, 4, generator=g) > 0.5
    assert_close(sub.masked_scores(scores, mask), ref.masked_scores(scores, mask), "masked_scores (per-batch mask)")


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_no_future_leak(sub, seed, dtype):
    props.no_future_leak(sub.causal_mask, sub.masked_scores, t=5 + 3 * seed, d=8, seed=seed, dtype=dtype)


# each bad call next to a valid one that must be accepted and answered right
@pytest.mark.parametrize("args,valid,mentions", [((5, 3), (3, 5), ("t_k", "past_len")), ((-1,), (2,), ("t_q",)),
                                                 ((2, -3), (2, 3), ("t_k",)), ((2, 4, -1), (2, 4, 0), ("past_len",))])
def test_bad_arguments(sub, ref, args, valid, mentions):
    assert_close(sub.causal_mask(*valid), ref.causal_mask(*valid), f"causal_mask{valid}")
    expect_value_error(sub.causal_mask, *args, what=f"causal_mask{args}", mentions=mentions)


def test_non_bool_mask_is_rejected(sub, ref):
    scores = torch.randn(2, 2, generator=torch.Generator().manual_seed(4))
    mask = torch.tensor([[True, False], [True, True]])
    assert_close(sub.masked_scores(scores, mask), ref.masked_scores(scores, mask), "masked_scores with a bool mask")
    expect_value_error(sub.masked_scores, torch.zeros(2, 2), torch.ones(2, 2), what="masked_scores with a float mask",
                       mentions=("mask",))


# --- trains: gradients
from grader.checks import grad  # noqa: E402


@pytest.mark.parametrize("lead,mask_shape", [((), (5, 7)), ((2, 3), (5, 7)), ((2, 3), (2, 1, 5, 7))])
def test_grad_masked_scores(sub, ref, lead, mask_shape):
    scores = grad.f64(*lead, 5, 7, seed=len(lead) + len(mask_shape))
    mask = torch.rand(*mask_shape, generator=torch.Generator().manual_seed(len(mask_shape))) > 0.4
    grad.gradients_match(sub._vjp, ref.masked_scores, (scores, mask), wrt=("scores",), seed=3,
                         zero_at={"scores": ~mask})


@pytest.mark.parametrize("t,seed", [(4, 0), (7, 1)])
def test_grad_no_future_dependence(sub, t, seed):
    grad.no_gradient_from_the_future(sub._vjp, t=t, d=4, seed=seed)
