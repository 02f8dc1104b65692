"""Hidden suite for Q28: per-neuron contributions against the reference and the FFN output; the rank-one
edit against the reference, exact on k*, minimal, harmless to keys orthogonal under cov, idempotent;
inputs untouched; bad arguments."""
import math

import pytest
import torch

from grader.checks import assert_close, expect_value_error
from grader.checks import q28 as props

DTYPES = [torch.float32, torch.float64]


@pytest.fixture(autouse=True)
def _seeded():
    """The argument-checking tests draw from the global RNG: seed it so every run sees the same tensors."""
    torch.manual_seed(0)
SIZES = [(16, 8), (8, 16), (12, 12), (1, 3)]  # (d_ff, d_model)


def _ffn(g, dtype, d_model, d_ff, d_out=None):
    d_out = d_model if d_out is None else d_out
    w_in = torch.randn(d_model, d_ff, generator=g, dtype=dtype) / math.sqrt(d_model)
    w_out = torch.randn(d_ff, d_out, generator=g, dtype=dtype) / math.sqrt(d_ff)
    return w_in, w_out


def _problem(seed, dtype, d_ff, d_model, with_cov):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(d_ff, d_model, generator=g, dtype=dtype) / math.sqrt(d_ff)
    k = torch.randn(d_ff, generator=g, dtype=dtype) * 1.7 + 0.3  # never a unit vector
    v = torch.randn(d_model, generator=g, dtype=dtype) * 2
    cov = None
    if with_cov:  # second moment of 4·d_ff sample keys, plus a ridge: SPD, far from a multiple of I
        keys = torch.randn(4 * d_ff, d_ff, generator=g, dtype=torch.float64) * torch.linspace(0.3, 3, d_ff,
                                                                                               dtype=torch.float64)
        cov = (keys.T @ keys / keys.shape[0] + 0.2 * torch.eye(d_ff, dtype=torch.float64)).to(dtype)
    return w, k, v, cov


# --- neuron contributions -------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("lead", [(), (3,), (2, 4)])
def test_contributions_match_reference_and_sum_to_ffn(sub, ref, lead, activation, dtype):
    g = torch.Generator().manual_seed(len(lead) * 5 + (activation == "gelu"))
    x = torch.randn(*lead, 6, generator=g, dtype=dtype)
    w_in, w_out = _ffn(g, dtype, 6, 10)
    props.contributions_sum_to_ffn(sub.neuron_contributions, x, w_in, w_out, activation)
    assert_close(sub.neuron_contributions(x, w_in, w_out, activation),
                 ref.neuron_contributions(x, w_in, w_out, activation),
                 f'neuron_contributions(x {tuple(x.shape)} {dtype}, w_in (6, 10), w_out (10, 6), "{activation}")',
                 hint="[..., i, :] = act(x @ w_in)[..., i] * w_out[i]")


@pytest.mark.parametrize("dtype", DTYPES)
def test_contributions_square_and_rectangular(sub, ref, dtype):
    """Square weights (d_ff == d_model) let w_in.T and w_out be confused; d_out != d_model is allowed."""
    g = torch.Generator().manual_seed(9)
    for d_model, d_ff, d_out in ((5, 5, 5), (5, 9, 3)):
        x = torch.randn(4, d_model, generator=g, dtype=dtype)
        w_in, w_out = _ffn(g, dtype, d_model, d_ff, d_out)
        props.contributions_sum_to_ffn(sub.neuron_contributions, x, w_in, w_out, "relu")
        assert_close(sub.neuron_contributions(x, w_in, w_out), ref.neuron_contributions(x, w_in, w_out),
                     f"neuron_contributions with w_in {tuple(w_in.shape)}, w_out {tuple(w_out.shape)}",
                     hint='the default activation is "relu"; values are the rows of w_out')


def test_contributions_bad_arguments(sub, ref):
    x, w_in, w_out = torch.randn(3, 6), torch.randn(6, 10), torch.randn(10, 6)
    assert_close(sub.neuron_contributions(x, w_in, w_out, "gelu"), ref.neuron_contributions(x, w_in, w_out, "gelu"),
                 'neuron_contributions(x (3, 6), w_in (6, 10), w_out (10, 6), "gelu") (valid arguments)')
    expect_value_error(sub.neuron_contributions, x, torch.randn(5, 10), w_out, what="neuron_contributions with "
                       "w_in of 5 rows for d_model = 6", mentions=("w_in",))
    expect_value_error(sub.neuron_contributions, x, w_in, torch.randn(6, 6), what="neuron_contributions with "
                       "w_out of 6 rows for d_ff = 10", mentions=("w_out",))
    expect_value_error(sub.neuron_contributions, x, w_in, w_out, "tanh", what='neuron_contributions(..., "tanh")',
                       mentions=("activation",))


# --- rank-one edit --------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("with_cov", [False, True])
@pytest.mark.parametrize("size", SIZES)
def test_edit_matches_reference(sub, ref, size, with_cov, dtype):
    for seed in range(3):
        w, k, v, cov = _problem(seed, dtype, *size, with_cov)
        assert_close(sub.rank_one_edit(w, k, v, cov), ref.rank_one_edit(w, k, v, cov),
                     f"rank_one_edit(w {tuple(w.shape)} {dtype}, k_star, v_star, cov={'C' if with_cov else None})",
                     hint=props._EDIT_HINT)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("with_cov", [False, True])
@pytest.mark.parametrize("size", SIZES)
def test_edit_is_exact(sub, size, with_cov, dtype):
    for seed in range(3):
        props.edit_is_exact(sub.rank_one_edit, *_problem(10 + seed, dtype, *size, with_cov))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("with_cov", [False, True])
@pytest.mark.parametrize("size", [(16, 8), (8, 16), (12, 12)])
def test_orthogonal_keys_unchanged(sub, size, with_cov, dtype):
    props.orthogonal_keys_unchanged(sub.rank_one_edit, *_problem(20, dtype, *size, with_cov), seed=1)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("with_cov", [False, True])
@pytest.mark.parametrize("size", SIZES)
def test_edit_is_minimal(sub, size, with_cov, dtype):
    props.edit_is_minimal(sub.rank_one_edit, *_problem(30, dtype, *size, with_cov), seed=2)


@pytest.mark.parametrize("with_cov", [False, True])
def test_edit_twice_changes_nothing(sub, with_cov):
    """Once k* maps to v*, editing again towards the same v* must leave w as it is (the residual is 0)."""
    w, k, v, cov = _problem(40, torch.float64, 10, 6, with_cov)
    once = sub.rank_one_edit(w, k, v, cov)
    assert_close(sub.rank_one_edit(once, k, v, cov), once, "rank_one_edit applied a second time with the same "
                 "k_star and v_star", hint="correct by the residual r = v* - k* @ w, which is 0 the second time; "
                 "do not add v* itself")


def test_edit_with_identity_cov_is_the_plain_edit(sub):
    w, k, v, _ = _problem(41, torch.float64, 9, 5, False)
    assert_close(sub.rank_one_edit(w, k, v, torch.eye(9, dtype=torch.float64)), sub.rank_one_edit(w, k, v),
                 "rank_one_edit with cov = I compared with cov = None", hint="cov = I is no weighting at all")


@pytest.mark.parametrize("bad,mentions", [
    ("w", ("w",)), ("k_star", ("k_star",)), ("v_star", ("v_star",)), ("cov", ("cov",)), ("zero", ("k_star",)),
])
def test_edit_bad_arguments(sub, ref, bad, mentions):
    args = {"w": torch.randn(6, 4), "k_star": torch.randn(6), "v_star": torch.randn(4), "cov": None}
    assert_close(sub.rank_one_edit(*args.values()), ref.rank_one_edit(*args.values()),
                 "rank_one_edit(w (6, 4), k_star (6,), v_star (4,)) (valid arguments)", hint=props._EDIT_HINT)
    if bad == "zero":
        args["k_star"] = torch.zeros(6)
    else:
        args[bad] = {"w": torch.randn(6), "k_star": torch.randn(4), "v_star": torch.randn(6),
                     "cov": torch.eye(4)}[bad]
    shapes = {k: tuple(t.shape) if isinstance(t, torch.Tensor) else t for k, t in args.items()}
    what = "rank_one_edit with a zero key" if bad == "zero" else f"rank_one_edit with {bad} wrong ({shapes})"
    expect_value_error(sub.rank_one_edit, *args.values(), what=what, mentions=mentions)
