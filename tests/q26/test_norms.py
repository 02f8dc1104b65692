"""Hidden suite for Q26: the three norms against torch's modules and the reference, their invariances,
batch-size-1 behaviour, bad arguments, and no library shortcuts."""
import pytest
import torch

from grader.checks import assert_close, expect_value_error, unchanged
from grader.checks import q26 as props
from grader.forbidden import no_forbidden_calls

DTYPES = [torch.float32, torch.float64]


@pytest.fixture(autouse=True)
def _seeded():
    """The argument-checking tests draw from the global RNG: seed it so every run sees the same tensors."""
    torch.manual_seed(0)
# [N, C], [N, C, L], [N, C, H, W], [N, C, D, H, W]; (4, 3, 3) and (3, 4, 5, 4) put a size equal to C last,
# so gamma broadcast along the last dim instead of dim 1 runs and is wrong; (1, 3, 5) is batch size 1.
BN_SHAPES = [(8, 3), (2, 5), (4, 3, 7), (4, 3, 3), (1, 3, 5), (2, 4, 5, 6), (3, 4, 5, 4), (1, 2, 3, 3), (2, 3, 2, 3, 4)]
TOKEN_SHAPES = [(6,), (4, 8), (2, 3, 8), (2, 2, 3, 16), (5, 1)]


def _data(shape, dtype, seed, scale=2.0, offset=0.5):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(*shape, generator=g, dtype=dtype) * scale + offset
    return g, x


def _affine(g, n, dtype):
    return (torch.rand(n, generator=g, dtype=dtype) + 0.5, torch.randn(n, generator=g, dtype=dtype))


def valid_call(sub, ref, name, eps=None):
    """One valid call of the function, against the reference: a function that rejects (or ignores) everything
    earns nothing in the argument tests, which start with it."""
    g, x = _data((4, 3, 6), torch.float64, seed=99)
    kw = {} if eps is None else {"eps": eps}
    params = _affine(g, 3 if name == "batch_norm" else 6, torch.float64)[:1 if name == "rms_norm" else 2]
    assert_close(getattr(sub, name)(x, *params, **kw), getattr(ref, name)(x, *params, **kw),
                 f"{name}(x (4, 3, 6){', eps=' + str(eps) if kw else ''}) (valid arguments)")


# --- batch norm ---------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", BN_SHAPES)
def test_batch_norm_matches_torch(sub, shape, dtype):
    g, x = _data(shape, dtype, seed=len(shape) * 10 + shape[0])
    gamma, beta = _affine(g, shape[1], dtype)
    props.matches_torch_batch_norm(sub.batch_norm, x, gamma, beta)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,eps", [((16, 4), 1e-5), ((5, 3, 6), 1e-3), ((3, 2, 4, 4), 0.5), ((2, 6), 1e-5)])
def test_batch_norm_matches_reference(sub, ref, shape, eps, dtype):
    for seed, scale in ((0, 1.0), (1, 1e-2), (2, 30.0)):  # small spread: eps matters; large: it does not
        g, x = _data(shape, dtype, seed=seed, scale=scale, offset=0.5 * scale)
        gamma, beta = _affine(g, shape[1], dtype)
        assert_close(sub.batch_norm(x, gamma, beta, eps), ref.batch_norm(x, gamma, beta, eps),
                     f"batch_norm(x {tuple(shape)} {dtype}, eps={eps:g}), x spread {scale:g}",
                     hint="biased variance over every dim except dim 1; eps inside the square root")
    g, x = _data(shape, dtype, seed=3, scale=3e-3, offset=1e-3)  # variance ~1e-5: the default eps shows
    assert_close(sub.batch_norm(x, gamma, beta), ref.batch_norm(x, gamma, beta),
                 f"batch_norm(x {tuple(shape)} {dtype}) with the default eps, x spread 3e-3",
                 hint="the default eps is 1e-5")


def test_batch_norm_depends_on_the_batch(sub):
    g, x = _data((8, 3, 4), torch.float64, seed=5)
    gamma, beta = _affine(g, 3, torch.float64)
    props.matches_torch_batch_norm(sub.batch_norm, x, gamma, beta)  # the right values first
    props.batch_dependent(sub.batch_norm, x, gamma, beta)


@pytest.mark.parametrize("shape", [(1, 3), (1, 4, 1), (1, 2, 1, 1)])
def test_batch_norm_one_value_per_channel_raises(sub, shape):
    """Decision: like torch in training mode, one value per channel is a ValueError (its variance is 0
    and every output would be beta, whatever x is)."""
    x = torch.randn(*shape, dtype=torch.float64)
    expect_value_error(sub.batch_norm, x, torch.ones(shape[1], dtype=torch.float64),
                       torch.zeros(shape[1], dtype=torch.float64),
                       what=f"batch_norm(x of shape {shape}) (one value per channel in training)",
                       mentions=("x", "channel", "batch"))
    two = torch.randn(2, *shape[1:], dtype=torch.float64)  # two values per channel: fine
    props.matches_torch_batch_norm(sub.batch_norm, two, torch.ones(shape[1], dtype=torch.float64),
                                   torch.zeros(shape[1], dtype=torch.float64))


@pytest.mark.parametrize("args,mentions", [
    (((5,), 5, 5), ("x",)),
    (((4, 3), 4, 3), ("gamma",)),
    (((4, 3, 2), 3, 2), ("beta",)),
])
def test_batch_norm_bad_arguments(sub, ref, args, mentions):
    shape, n_gamma, n_beta = args
    valid_call(sub, ref, "batch_norm")
    x = torch.randn(*shape)
    expect_value_error(sub.batch_norm, x, torch.ones(n_gamma), torch.zeros(n_beta),
                       what=f"batch_norm(x {shape}, gamma ({n_gamma},), beta ({n_beta},))", mentions=mentions)


def test_batch_norm_negative_eps(sub, ref):
    valid_call(sub, ref, "batch_norm", eps=0.0)  # eps = 0 is allowed
    expect_value_error(sub.batch_norm, torch.randn(4, 3), torch.ones(3), torch.zeros(3), -1e-5,
                       what="batch_norm(..., eps=-1e-5)", mentions=("eps",))


# --- layer norm ---------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", TOKEN_SHAPES)
def test_layer_norm_matches_torch(sub, shape, dtype):
    g, x = _data(shape, dtype, seed=sum(shape))
    gamma, beta = _affine(g, shape[-1], dtype)
    for eps in (1e-5, 1e-2):
        props.matches_torch_layer_norm(sub.layer_norm, x, gamma, beta, eps)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(3, 8), (2, 4, 5), (7,)])
def test_layer_norm_matches_reference(sub, ref, shape, dtype):
    for seed, scale, eps in ((0, 1.0, 1e-5), (1, 1e-2, 1e-3), (2, 20.0, 0.5)):
        g, x = _data(shape, dtype, seed=seed, scale=scale, offset=-0.5 * scale)
        gamma, beta = _affine(g, shape[-1], dtype)
        assert_close(sub.layer_norm(x, gamma, beta, eps), ref.layer_norm(x, gamma, beta, eps),
                     f"layer_norm(x {tuple(shape)} {dtype}, eps={eps:g}), x spread {scale:g}",
                     hint="mean and biased variance over the last dim; eps inside the square root")
    g, x = _data(shape, dtype, seed=3, scale=3e-3, offset=1e-3)  # variance ~1e-5: the default eps shows
    assert_close(sub.layer_norm(x, gamma, beta), ref.layer_norm(x, gamma, beta),
                 f"layer_norm(x {tuple(shape)} {dtype}) with the default eps, x spread 3e-3",
                 hint="the default eps is 1e-5")


@pytest.mark.parametrize("dtype", DTYPES)
def test_layer_norm_shift_invariant(sub, dtype):
    for seed, shape in enumerate([(4, 8), (2, 3, 6)]):
        g, x = _data(shape, dtype, seed=seed)
        gamma, beta = _affine(g, shape[-1], dtype)
        props.matches_torch_layer_norm(sub.layer_norm, x, gamma, beta)  # the right values first
        shift = torch.randn(*shape[:-1], 1, generator=g, dtype=dtype) * 5
        props.layer_norm_shift_invariant(sub.layer_norm, x, gamma, beta, shift)


@pytest.mark.parametrize("dtype", DTYPES)
def test_token_norms_batch_size_one(sub, dtype):
    g, x = _data((5, 3, 8), dtype, seed=11)
    gamma, beta = _affine(g, 8, dtype)
    props.matches_torch_layer_norm(sub.layer_norm, x, gamma, beta)  # the right values first
    props.matches_torch_rms_norm(sub.rms_norm, x, gamma)
    props.per_sample(sub.layer_norm, x, gamma, beta, name="layer_norm")
    props.per_sample(sub.rms_norm, x, gamma, name="rms_norm")


@pytest.mark.parametrize("args,mentions", [
    (((4, 6), 5, 6), ("gamma",)),
    (((4, 6), 6, 3), ("beta",)),
    (((), 1, 1), ("x",)),
])
def test_layer_norm_bad_arguments(sub, ref, args, mentions):
    shape, n_gamma, n_beta = args
    valid_call(sub, ref, "layer_norm")
    expect_value_error(sub.layer_norm, torch.randn(shape), torch.ones(n_gamma), torch.zeros(n_beta),
                       what=f"layer_norm(x {shape}, gamma ({n_gamma},), beta ({n_beta},))", mentions=mentions)


# --- RMSNorm --------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", TOKEN_SHAPES)
def test_rms_norm_matches_torch(sub, shape, dtype):
    g, x = _data(shape, dtype, seed=100 + sum(shape))
    weight = torch.rand(shape[-1], generator=g, dtype=dtype) + 0.5
    for eps in (1e-6, 1e-1):
        props.matches_torch_rms_norm(sub.rms_norm, x, weight, eps)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(3, 8), (2, 4, 5), (7,)])
def test_rms_norm_matches_reference(sub, ref, shape, dtype):
    for seed, scale, eps in ((0, 1.0, 1e-6), (1, 1e-3, 1e-6), (2, 1e-2, 1e-3), (3, 50.0, 0.5)):
        g, x = _data(shape, dtype, seed=seed, scale=scale, offset=scale)
        weight = torch.randn(shape[-1], generator=g, dtype=dtype)
        assert_close(sub.rms_norm(x, weight, eps), ref.rms_norm(x, weight, eps),
                     f"rms_norm(x {tuple(shape)} {dtype}, eps={eps:g}), x spread {scale:g}", hint=props._RMS_HINT)
    g, x = _data(shape, dtype, seed=4, scale=1e-3, offset=0.0)  # mean square ~1e-6: the default eps shows
    assert_close(sub.rms_norm(x, weight), ref.rms_norm(x, weight),
                 f"rms_norm(x {tuple(shape)} {dtype}) with the default eps, x spread 1e-3",
                 hint="the default eps is 1e-6 (not torch's or Llama's 1e-5)")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("c", [0.01, 3.0, 250.0])
def test_rms_norm_scale_invariant(sub, dtype, c):
    g, x = _data((4, 3, 16), dtype, seed=int(c * 100))
    weight = torch.rand(16, generator=g, dtype=dtype) + 0.5
    props.matches_torch_rms_norm(sub.rms_norm, x, weight)  # the right values first
    props.rms_norm_scale_invariant(sub.rms_norm, x, weight, c)


@pytest.mark.parametrize("args,mentions", [(((4, 6), 5), ("weight",)), (((), 1), ("x",))])
def test_rms_norm_bad_arguments(sub, ref, args, mentions):
    shape, n = args
    valid_call(sub, ref, "rms_norm")
    expect_value_error(sub.rms_norm, torch.randn(shape), torch.ones(n),
                       what=f"rms_norm(x {shape}, weight ({n},))", mentions=mentions)


def test_layer_norm_negative_eps(sub, ref):
    valid_call(sub, ref, "layer_norm", eps=0.0)  # eps = 0 is allowed
    expect_value_error(sub.layer_norm, torch.randn(4, 3), torch.ones(3), torch.zeros(3), -1e-5,
                       what="layer_norm(..., eps=-1e-5)", mentions=("eps",))


def test_rms_norm_negative_eps(sub, ref):
    valid_call(sub, ref, "rms_norm", eps=0.0)  # eps = 0 is allowed
    expect_value_error(sub.rms_norm, torch.randn(4, 3), torch.ones(3), -1.0,
                       what="rms_norm(..., eps=-1.0)", mentions=("eps",))


# --- all three ----------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_inputs_unchanged(sub, ref, dtype):
    g, x = _data((4, 3, 5), dtype, seed=7)
    gamma, beta = _affine(g, 5, dtype)
    gamma3, beta3 = gamma[:3].clone(), beta[:3].clone()
    saved = [t.clone() for t in (x, gamma, beta, gamma3, beta3)]
    # the right values first: leaving the inputs alone by doing nothing earns nothing
    assert_close(sub.batch_norm(x, gamma3, beta3), ref.batch_norm(x, gamma3, beta3), "batch_norm(x (4, 3, 5))")
    assert_close(sub.layer_norm(x, gamma, beta), ref.layer_norm(x, gamma, beta), "layer_norm(x (4, 3, 5))")
    assert_close(sub.rms_norm(x, gamma), ref.rms_norm(x, gamma), "rms_norm(x (4, 3, 5))")
    for before, after, name in zip(saved, (x, gamma, beta, gamma3, beta3), ("x", "gamma", "beta", "gamma", "beta")):
        unchanged(before, after, name)


@pytest.mark.parametrize("name,make", [
    ("batch_norm", lambda x: (x, torch.ones(3), torch.zeros(3))),
    ("layer_norm", lambda x: (x, torch.ones(5), torch.zeros(5))),
    ("rms_norm", lambda x: (x, torch.ones(5))),
])
@pytest.mark.forbidden
def test_no_library_norms(sub, ref, name, make):
    x = torch.randn(4, 3, 5, generator=torch.Generator().manual_seed(0))
    with no_forbidden_calls(sub, name):  # the operators it runs, then the source
        got = getattr(sub, name)(*make(x))  # a stub fails here
    # right values too: a constant runs no forbidden operator either
    assert_close(got, getattr(ref, name)(*make(x)), f"{name}(x (4, 3, 5))")


# --- trains: gradients
from grader.checks.grad import f64, gradients_match  # noqa: E402


@pytest.mark.parametrize("shape", [(4, 3), (3, 2, 5)])
def test_grad_batch_norm(sub, ref, shape):
    x, gamma, beta = f64(*shape, seed=1, scale=2.0, shift=1.0), f64(shape[1], seed=2, shift=1.0), f64(shape[1], seed=3)
    gradients_match(sub._vjp, ref.batch_norm, (x, gamma, beta), wrt=("x", "gamma", "beta"), seed=4)


@pytest.mark.parametrize("shape", [(5,), (2, 3, 6)])
def test_grad_layer_norm(sub, ref, shape):
    x, gamma, beta = f64(*shape, seed=5, scale=2.0, shift=1.0), f64(shape[-1], seed=6, shift=1.0), f64(shape[-1], seed=7)
    gradients_match(sub._vjp, ref.layer_norm, (x, gamma, beta), wrt=("x", "gamma", "beta"), seed=8)


@pytest.mark.parametrize("shape", [(5,), (2, 3, 6)])
def test_grad_rms_norm(sub, ref, shape):
    x, weight = f64(*shape, seed=9, scale=2.0, shift=1.0), f64(shape[-1], seed=10, shift=1.0)
    gradients_match(sub._vjp, ref.rms_norm, (x, weight), wrt=("x", "weight"), seed=11)
