"""Self-check for Q21. Run: pytest exercises/q21"""
import torch

from grader.checks import assert_close, assert_equal, expect_value_error
from grader.checks import q21 as props

T, F = True, False


def test_square_mask_by_hand(sub):
    expected = torch.tensor([[T, F, F],
                             [T, T, F],
                             [T, T, T]])
    assert_close(sub.causal_mask(3), expected, "causal_mask(3)")


def test_rectangular_mask_for_decoding(sub):
    # 2 new queries after 3 cached tokens: they sit at positions 3 and 4.
    expected = torch.tensor([[T, T, T, T, F],
                             [T, T, T, T, T]])
    assert_close(sub.causal_mask(2, 5), expected, "causal_mask(2, 5)",
                 hint="query i sits at absolute position past_len + i, past_len = t_k - t_q")


def test_rows_match_square_mask(sub):
    props.decoding_rows_match_training(sub.causal_mask, t=6)


def test_masked_scores_fills_minus_inf(sub):
    scores = torch.arange(4.0).reshape(2, 2)
    mask = torch.tensor([[T, F], [T, T]])
    out = sub.masked_scores(scores, mask)
    assert_close(out, torch.tensor([[0.0, float("-inf")], [2.0, 3.0]]), "masked_scores(scores, mask)")
    assert_equal(scores.tolist(), [[0.0, 1.0], [2.0, 3.0]], "scores after the call (must be unchanged)")


def test_no_future_leak(sub):
    props.no_future_leak(sub.causal_mask, sub.masked_scores, t=6, d=4, seed=0)


def test_bad_arguments(sub):
    expect_value_error(sub.causal_mask, 5, 3, what="causal_mask(5, 3) (t_k < t_q, no past_len)",
                       mentions=("t_k", "past_len"))
    expect_value_error(sub.causal_mask, -1, what="causal_mask(-1)", mentions=("t_q",))
