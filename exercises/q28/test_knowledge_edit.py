"""Self-check for Q28. Run: pytest exercises/q28

Oracles: a hand-worked edit, the FFN computed with torch.relu / F.gelu, and the defining properties."""
import torch

from grader.checks import assert_close, expect_value_error
from grader.checks import q28 as props

f64 = torch.float64


def test_contributions_by_hand(sub):
    # x @ w_in = [2, -1]: neuron 0 fires with strength 2, neuron 1 is dead under relu
    x = torch.tensor([1.0, 1.0], dtype=f64)
    w_in = torch.tensor([[1.0, -2.0], [1.0, 1.0]], dtype=f64)   # [d_model=2, d_ff=2]
    w_out = torch.tensor([[3.0, 0.0], [5.0, 7.0]], dtype=f64)   # [d_ff=2, d_model=2]
    expected = torch.tensor([[6.0, 0.0], [0.0, 0.0]], dtype=f64)
    assert_close(sub.neuron_contributions(x, w_in, w_out), expected, "neuron_contributions(x=[1, 1], ...)",
                 hint="row i = relu(x @ w_in)[i] * w_out[i]")


def test_contributions_sum_to_ffn(sub):
    g = torch.Generator().manual_seed(0)
    for dtype in (torch.float32, f64):
        for lead in ((), (3,), (2, 4)):
            x = torch.randn(*lead, 6, generator=g, dtype=dtype)
            w_in, w_out = torch.randn(6, 10, generator=g, dtype=dtype), torch.randn(10, 6, generator=g, dtype=dtype)
            for activation in ("relu", "gelu"):
                props.contributions_sum_to_ffn(sub.neuron_contributions, x, w_in, w_out, activation)


def test_edit_by_hand(sub):
    # w = I, k* = [2, 0], v* = [1, 1]: r = v* - k* @ w = [-1, 1]; dW = outer(k*, r) / |k*|² = [[-.5, .5], [0, 0]]
    w = torch.eye(2, dtype=f64)
    got = sub.rank_one_edit(w, torch.tensor([2.0, 0.0], dtype=f64), torch.tensor([1.0, 1.0], dtype=f64))
    assert_close(got, torch.tensor([[0.5, 0.5], [0.0, 1.0]], dtype=f64), "rank_one_edit(I, [2, 0], [1, 1])",
                 hint="w + outer(k*, v* - k* @ w) / (k* · k*)")
    assert_close(w, torch.eye(2, dtype=f64), "w after the call (must be unchanged)")


def _problem(seed, dtype, d_ff=12, d_model=8, with_cov=False):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(d_ff, d_model, generator=g, dtype=dtype)
    k, v = torch.randn(d_ff, generator=g, dtype=dtype) * 2, torch.randn(d_model, generator=g, dtype=dtype)
    keys = torch.randn(50, d_ff, generator=g, dtype=dtype) * torch.linspace(0.5, 2, d_ff, dtype=dtype)
    cov = keys.T @ keys / 50 + 0.1 * torch.eye(d_ff, dtype=dtype) if with_cov else None
    return w, k, v, cov


def test_edit_properties(sub):
    for dtype in (torch.float32, f64):
        for with_cov in (False, True):
            w, k, v, cov = _problem(1, dtype, with_cov=with_cov)
            props.edit_is_exact(sub.rank_one_edit, w, k, v, cov)
            props.orthogonal_keys_unchanged(sub.rank_one_edit, w, k, v, cov)
            props.edit_is_minimal(sub.rank_one_edit, w, k, v, cov)


def test_bad_arguments(sub):
    expect_value_error(sub.rank_one_edit, torch.randn(6, 4), torch.zeros(6), torch.randn(4),
                       what="rank_one_edit with a zero key", mentions=("k_star",))
    expect_value_error(sub.rank_one_edit, torch.randn(6, 4), torch.randn(4), torch.randn(4),
                       what="rank_one_edit with k_star of length 4 for w (6, 4)", mentions=("k_star",))
