"""Hidden suite for Q21: exact masks against the reference, the leak property, bad arguments."""
import pytest
import torch

from grader.checks import assert_close, expect_value_error, unchanged
from grader.checks import q21 as props

SQUARE = [1, 2, 3, 7, 16]
RECT = [(1, 1, None), (1, 9, None), (3, 8, None), (4, 4, 0), (2, 6, 1), (3, 3, 5), (2, 10, 8), (0, 4, None),
        (5, 3, 2), (1, 6, 0)]


@pytest.mark.parametrize("t", SQUARE)
def test_square_masks(sub, ref, t):
    assert_close(sub.causal_mask(t), ref.causal_mask(t), f"causal_mask({t})")


@pytest.mark.parametrize("t_q,t_k,past_len", RECT)
def test_rectangular_masks(sub, ref, t_q, t_k, past_len):
    assert_close(sub.causal_mask(t_q, t_k, past_len=past_len), ref.causal_mask(t_q, t_k, past_len=past_len),
                 f"causal_mask({t_q}, {t_k}, past_len={past_len})")


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


@pytest.mark.parametrize("args,mentions", [((5, 3), ("t_k", "past_len")), ((-1,), ("t_q",)),
                                           ((2, -3), ("t_k",)), ((2, 4, -1), ("past_len",))])
def test_bad_arguments(sub, args, mentions):
    expect_value_error(sub.causal_mask, *args, what=f"causal_mask{args}", mentions=mentions)


def test_non_bool_mask_is_rejected(sub):
    expect_value_error(sub.masked_scores, torch.zeros(2, 2), torch.ones(2, 2), what="masked_scores with a float mask",
                       mentions=("mask",))
