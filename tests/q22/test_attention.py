"""Hidden suite for Q22: attention against the reference (float64 to 1e-9, float32 to 1e-5) and torch's
fused kernel, masks (broadcast, fully masked rows), multi-head splitting, and the sqrt(d_k) statistics."""
import math

import pytest
import torch

from grader.checks import assert_close, assert_number, expect_value_error, fail, unchanged
from grader.checks import q22 as props

DTYPES = [torch.float32, torch.float64]
# (leading dims, T_q, T_k, d_k, d_v)
SHAPES = [((), 1, 1, 4, 4), ((), 5, 5, 8, 8), ((3,), 4, 7, 8, 5), ((2, 3), 6, 6, 16, 16), ((2, 2), 3, 9, 4, 12)]


def qkv(lead, t_q, t_k, d_k, d_v, dtype, seed, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    q = scale * torch.randn(*lead, t_q, d_k, generator=g, dtype=dtype)
    k = scale * torch.randn(*lead, t_k, d_k, generator=g, dtype=dtype)
    v = torch.randn(*lead, t_k, d_v, generator=g, dtype=dtype)
    return q, k, v, g


def masks(lead, t_q, t_k, g):
    """No mask; a random [T_q, T_k] mask with one fully masked query; a per-batch mask; a causal one."""
    random = torch.rand(t_q, t_k, generator=g) > 0.4
    random[-1] = False
    per_batch = torch.rand(*lead[:1], *([1] * len(lead[1:])), t_q, t_k, generator=g) > 0.3
    causal = torch.ones(t_q, t_k, dtype=torch.bool).tril(diagonal=t_k - t_q)
    return {"none": None, "random": random, "per_batch": per_batch, "causal": causal}


def compare(sub, ref, q, k, v, mask, label):
    got = sub.scaled_dot_product_attention(q, k, v, mask)
    want_out, want_w = ref.scaled_dot_product_attention(q, k, v, mask)
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        fail(f"scaled_dot_product_attention should return (out, weights), got {type(got).__name__}")
    example = f"q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)}, mask {label}, {q.dtype}"
    assert_close(got[1], want_w, "scaled_dot_product_attention: weights", example=example,
                 hint="weights = softmax(q @ k^T / sqrt(d_k)) over the keys (dim=-1), exactly 0 where masked; "
                      "a query whose keys are all masked gets 0 weights, not NaN")
    assert_close(got[0], want_out, "scaled_dot_product_attention: out", example=example)


# --- scaled_dot_product_attention -----------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, (*s[0], *s[1:]))))
def test_sdpa_matches_reference(sub, ref, shape, dtype):
    lead, t_q, t_k, d_k, d_v = shape
    q, k, v, g = qkv(lead, t_q, t_k, d_k, d_v, dtype, seed=sum(shape[1:]) + len(lead))
    for label, mask in masks(lead, t_q, t_k, g).items():
        compare(sub, ref, q, k, v, mask, label)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sdpa_matches_torch(sub, dtype):
    q, k, v, g = qkv((2, 3), 5, 7, 8, 6, dtype, seed=1)
    props.matches_torch(sub.scaled_dot_product_attention, q, k, v)
    props.matches_torch(sub.scaled_dot_product_attention, q, k, v, torch.rand(5, 7, generator=g) > 0.3)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES[1:], ids=lambda s: "x".join(map(str, (*s[0], *s[1:]))))
def test_weights_are_distributions(sub, shape, dtype):
    lead, t_q, t_k, d_k, d_v = shape
    q, k, v, g = qkv(lead, t_q, t_k, d_k, d_v, dtype, seed=7)
    for mask in masks(lead, t_q, t_k, g).values():
        props.weights_are_distributions(sub.scaled_dot_product_attention, q, k, v, mask)


@pytest.mark.parametrize("dtype", DTYPES)
def test_fully_masked_rows_give_zero_not_nan(sub, dtype):
    q, k, v, _ = qkv((2,), 3, 4, 8, 5, dtype, seed=3)
    mask = torch.tensor([[True, False, True, False], [False] * 4, [True] * 4])
    out, weights = sub.scaled_dot_product_attention(q, k, v, mask)
    assert_close(weights[:, 1], torch.zeros(2, 4, dtype=dtype), "weights of a query whose keys are all masked",
                 hint="softmax over all -inf is NaN: give such rows 0 weights (and so 0 output)")
    assert_close(out[:, 1], torch.zeros(2, 5, dtype=dtype), "output of a query whose keys are all masked")
    props.weights_are_distributions(sub.scaled_dot_product_attention, q, k, v, mask)


@pytest.mark.parametrize("dtype", DTYPES)
def test_large_scores_are_stable(sub, ref, dtype):
    # scores of several hundred: exp() overflows unless the softmax subtracts the row maximum
    q, k, v, g = qkv((2,), 4, 6, 16, 8, dtype, seed=11, scale=12.0)
    mask = torch.ones(4, 6, dtype=torch.bool).tril(diagonal=2)
    for m, label in ((None, "none"), (mask, "causal")):
        compare(sub, ref, q, k, v, m, label)


def test_scale_uses_d_k_not_d_v(sub, ref):
    q, k, v, _ = qkv((), 4, 4, 2, 32, torch.float64, seed=5)
    compare(sub, ref, q, k, v, None, "none")


def test_scale_is_one_over_sqrt_d_k(sub):
    # one query, two keys: scores are exactly [0, sqrt(d_k)] and the weights softmax([0, 1])
    d_k = 16
    q = torch.zeros(1, d_k, dtype=torch.float64)
    q[0, 0] = 1.0
    k = torch.zeros(2, d_k, dtype=torch.float64)
    k[1, 0] = math.sqrt(d_k)
    v = torch.eye(2, dtype=torch.float64)
    _, weights = sub.scaled_dot_product_attention(q, k, v)
    want = torch.softmax(torch.tensor([[0.0, 1.0]], dtype=torch.float64), dim=-1)
    assert_close(weights, want, "weights for scores [0, sqrt(d_k)] with d_k=16",
                 hint="divide the scores by sqrt(d_k) (here 4), not by d_k and not by nothing")


def test_inputs_unchanged(sub, ref):
    q, k, v, g = qkv((2,), 3, 5, 4, 4, torch.float64, seed=2)
    mask = torch.rand(3, 5, generator=g) > 0.5
    before = [t.clone() for t in (q, k, v, mask)]
    compare(sub, ref, q, k, v, mask, "random")  # the right answer first: doing nothing earns nothing
    for name, b, a in zip(("q", "k", "v", "mask"), before, (q, k, v, mask)):
        unchanged(b, a, name)


@pytest.mark.parametrize("case", ["d_k", "v_len", "mask_dtype"])
def test_sdpa_bad_arguments(sub, ref, case):
    q, k, v, _ = qkv((), 3, 4, 8, 8, torch.float64, seed=0)
    compare(sub, ref, q, k, v, torch.ones(3, 4, dtype=torch.bool).tril(), "causal")  # valid arguments work
    if case == "d_k":
        expect_value_error(sub.scaled_dot_product_attention, q, k[..., :5], v,
                           what="scaled_dot_product_attention with q d_k=8, k d_k=5", mentions=("k", "d_k"))
    elif case == "v_len":
        expect_value_error(sub.scaled_dot_product_attention, q, k, v[:3],
                           what="scaled_dot_product_attention with 4 keys but 3 values", mentions=("v",))
    else:
        expect_value_error(sub.scaled_dot_product_attention, q, k, v, torch.ones(3, 4),
                           what="scaled_dot_product_attention with a float mask", mentions=("mask",))


# --- multi_head_attention -------------------------------------------------------------------------

def weights(d_model, dtype, g):
    return [torch.randn(d_model, d_model, generator=g, dtype=dtype) / math.sqrt(d_model) for _ in range(4)]


MHA = [((), 5, 8, 2), ((2,), 6, 12, 3), ((2, 3), 4, 16, 4), ((3,), 7, 8, 1), ((2,), 1, 8, 8)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("lead,t,d_model,n_heads", MHA)
def test_mha_matches_reference(sub, ref, lead, t, d_model, n_heads, causal, dtype):
    g = torch.Generator().manual_seed(t * 100 + d_model + n_heads)
    x = torch.randn(*lead, t, d_model, generator=g, dtype=dtype)
    ws = weights(d_model, dtype, g)
    got = sub.multi_head_attention(x, *ws, n_heads, causal=causal)
    assert_close(got, ref.multi_head_attention(x, *ws, n_heads, causal=causal),
                 f"multi_head_attention(x {tuple(x.shape)}, n_heads={n_heads}, causal={causal})",
                 hint="weights are [in, out] applied as x @ W; head h owns columns h*d_head:(h+1)*d_head: reshape to "
                      "[..., T, H, d_head], then transpose to [..., H, T, d_head]")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("causal", [True, False])
def test_mha_matches_per_head_oracle(sub, causal, dtype):
    g = torch.Generator().manual_seed(4)
    x = torch.randn(2, 6, 12, generator=g, dtype=dtype)
    props.mha_matches_heads(sub.multi_head_attention, x, *weights(12, dtype, g), 4, causal)


def test_mha_default_is_causal(sub, ref):
    g = torch.Generator().manual_seed(8)
    x = torch.randn(2, 5, 8, generator=g, dtype=torch.float64)
    ws = weights(8, torch.float64, g)
    assert_close(sub.multi_head_attention(x, *ws, 2), ref.multi_head_attention(x, *ws, 2, causal=True),
                 "multi_head_attention(x, ..., n_heads=2) with causal left at its default (True)")


def test_mha_no_future_leak(sub, ref):
    g = torch.Generator().manual_seed(9)
    x = torch.randn(1, 6, 8, generator=g, dtype=torch.float64)
    ws = weights(8, torch.float64, g)
    out = sub.multi_head_attention(x, *ws, 2, causal=True)
    assert_close(out, ref.multi_head_attention(x, *ws, 2, causal=True), "multi_head_attention(x (1, 6, 8), n_heads=2)")
    x2 = x.clone()
    x2[:, 3:] += torch.randn(1, 3, 8, generator=g, dtype=torch.float64)
    out2 = sub.multi_head_attention(x2, *ws, 2, causal=True)
    assert_close(out2[:, :3], out[:, :3], "causal multi_head_attention at positions 0..2 after changing tokens 3..5",
                 hint="with causal=True, position i may only attend positions <= i")


def test_mha_input_unchanged(sub, ref):
    g = torch.Generator().manual_seed(10)
    x = torch.randn(2, 4, 8, generator=g, dtype=torch.float64)
    ws = weights(8, torch.float64, g)
    before = [t.clone() for t in (x, *ws)]
    assert_close(sub.multi_head_attention(x, *ws, 2), ref.multi_head_attention(x, *ws, 2),
                 "multi_head_attention(x (2, 4, 8), n_heads=2)")
    for name, b, a in zip(("x", "w_q", "w_k", "w_v", "w_o"), before, (x, *ws)):
        unchanged(b, a, name)


def test_mha_bad_arguments(sub, ref):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 4, 8, generator=g)
    ws = weights(8, torch.float32, g)
    assert_close(sub.multi_head_attention(x, *ws, 4), ref.multi_head_attention(x, *ws, 4),
                 "multi_head_attention with d_model=8, n_heads=4 (valid)")
    expect_value_error(sub.multi_head_attention, x, *ws, 3, what="multi_head_attention with d_model=8, n_heads=3",
                       mentions=("n_heads",))
    bad = [torch.randn(8, 4, generator=g), *ws[1:]]
    expect_value_error(sub.multi_head_attention, x, *bad, 2, what="multi_head_attention with w_q of shape (8, 4)",
                       mentions=("w_q",))


# --- dot_product_std ------------------------------------------------------------------------------
# n_samples * d_k is a multiple of 16 in every seeded case: drawing q then k separately gives the same numbers.
STD_CASES = [(1, 20000), (4, 20000), (16, 20000), (64, 8000), (256, 4000)]


@pytest.mark.parametrize("scaled", [False, True])
@pytest.mark.parametrize("d_k,n_samples", STD_CASES)
def test_dot_product_std_from_samples(sub, d_k, scaled, n_samples):
    props.std_matches_samples(sub.dot_product_std, d_k, scaled, n_samples, seed=100 + d_k)


@pytest.mark.parametrize("scaled", [False, True])
@pytest.mark.parametrize("d_k,n_samples", STD_CASES)
def test_dot_product_std(sub, d_k, scaled, n_samples):
    props.std_is_right(sub.dot_product_std, d_k, scaled, n_samples, seed=d_k)


def test_dot_product_std_is_seeded(sub):
    props.std_is_seeded(sub.dot_product_std)


def test_dot_product_std_returns_a_float(sub):
    got = sub.dot_product_std(4, True, 100, torch.Generator().manual_seed(0))
    assert_number(float(got) if isinstance(got, torch.Tensor) else got, 1.0, "dot_product_std(4, True, 100)",
                  rel=0.5)


def test_dot_product_std_bad_arguments(sub):
    props.std_matches_samples(sub.dot_product_std, 4, True, 4000, seed=0, calls=1)  # valid arguments work
    g = torch.Generator().manual_seed(0)
    expect_value_error(sub.dot_product_std, 0, True, 100, g, what="dot_product_std(d_k=0, ...)", mentions=("d_k",))
    expect_value_error(sub.dot_product_std, 4, True, 1, g, what="dot_product_std(..., n_samples=1)",
                       mentions=("n_samples",))


# --- trains: gradients
from grader.checks import grad  # noqa: E402


@pytest.mark.parametrize("lead,t_q,t_k,mask", [((), 4, 4, "none"), ((2,), 3, 6, "causal"), ((2, 2), 4, 5, "padding")])
def test_grad_scaled_dot_product_attention(sub, ref, lead, t_q, t_k, mask):
    """Gradients w.r.t. q, k, v for a cotangent on both outputs; a padded key gets exactly zero gradient."""
    q, k, v = grad.f64(*lead, t_q, 4, seed=1), grad.f64(*lead, t_k, 4, seed=2), grad.f64(*lead, t_k, 3, seed=3)
    zero_at = None
    if mask == "none":
        m = None
    elif mask == "causal":
        m = torch.ones(t_q, t_k, dtype=torch.bool).tril(diagonal=t_k - t_q)
    else:
        m = torch.rand(t_q, t_k, generator=torch.Generator().manual_seed(4)) > 0.3
        m[:, 0] = True  # no query without a key
        m[:, -1] = False  # the last key is padding: masked for every query
        padded = torch.zeros(t_k, 1, dtype=torch.bool)
        padded[-1] = True
        zero_at = {"k": padded, "v": padded}
    grad.gradients_match(sub._vjp, ref.scaled_dot_product_attention, (q, k, v, m), wrt=("q", "k", "v"), seed=5,
                         zero_at=zero_at)


@pytest.mark.parametrize("causal", [True, False])
def test_grad_multi_head_attention(sub, ref, causal):
    x = grad.f64(2, 5, 8, seed=6)
    w_q, w_k, w_v, w_o = (grad.f64(8, 8, seed=7 + i, scale=8 ** -0.5) for i in range(4))
    grad.gradients_match(sub._vjp, ref.multi_head_attention, (x, w_q, w_k, w_v, w_o, 2, causal),
                         wrt=("x", "w_q", "w_k", "w_v", "w_o"), seed=11)
