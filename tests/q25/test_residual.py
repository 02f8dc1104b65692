"""Hidden suite for Q25: the three blocks against the reference (float32/float64, leading batch dims,
deterministic trusted-side callables), identity paths, one call per piece, and input_grad_norm: the
seeded value against the reference and the vanishing-gradient property at depth 32+."""
import pytest
import torch

from grader.checks import assert_close, assert_number, expect_value_error, fail, unchanged
from grader.checks import q25 as props

SHAPES = [(6,), (4, 6), (2, 3, 8), (2, 2, 3, 5)]


def _sublayer(d: int, dtype, seed: int):
    w = torch.randn(d, d, generator=torch.Generator().manual_seed(seed), dtype=dtype) / d ** 0.5
    return lambda h: torch.tanh(h @ w) * 2.0 + 0.3  # a fixed, non-linear, shape-keeping layer


def _layer_norm(d: int, dtype, seed: int):
    g = torch.Generator().manual_seed(seed + 1000)
    gamma = 1.0 + 0.5 * torch.randn(d, generator=g, dtype=dtype)
    beta = 0.5 * torch.randn(d, generator=g, dtype=dtype)
    return lambda h: torch.nn.functional.layer_norm(h, (d,), gamma, beta, eps=1e-5)


def _inputs(shape, dtype, seed):
    x = 3.0 * torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype) + 1.0
    return x, _sublayer(shape[-1], dtype, seed), _layer_norm(shape[-1], dtype, seed)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_residual(sub, ref, shape, dtype):
    x, f, _ = _inputs(shape, dtype, 1)
    before = x.clone()
    got = sub.residual(x, f)
    unchanged(before, x, "x")
    assert_close(got, ref.residual(x, f), f"residual(x {tuple(shape)} {dtype}, sublayer)")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_pre_norm_block(sub, ref, shape, dtype):
    x, f, norm = _inputs(shape, dtype, 2)
    before = x.clone()
    got = sub.pre_norm_block(x, f, norm)
    unchanged(before, x, "x")
    assert_close(got, ref.pre_norm_block(x, f, norm), f"pre_norm_block(x {tuple(shape)} {dtype}, sublayer, norm)",
                 hint="pre-norm: x + sublayer(norm(x)); the raw x is added back")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_post_norm_block(sub, ref, shape, dtype):
    x, f, norm = _inputs(shape, dtype, 3)
    before = x.clone()
    got = sub.post_norm_block(x, f, norm)
    unchanged(before, x, "x")
    assert_close(got, ref.post_norm_block(x, f, norm), f"post_norm_block(x {tuple(shape)} {dtype}, sublayer, norm)",
                 hint="post-norm: norm(x + sublayer(x)); the norm comes last")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_identity_paths(sub, dtype):
    x = torch.randn(2, 3, 7, generator=torch.Generator().manual_seed(4), dtype=dtype)
    props.zero_sublayer_paths(sub.residual, sub.pre_norm_block, sub.post_norm_block, x)


def test_each_piece_called_once(sub):
    props.each_called_once(sub.residual, sub.pre_norm_block, sub.post_norm_block,
                           torch.randn(3, 4, 6, generator=torch.Generator().manual_seed(5)))


# --- input_grad_norm --------------------------------------------------------------------------------
@pytest.mark.parametrize("res", [True, False])
@pytest.mark.parametrize("depth,seed", [(1, 0), (2, 1), (5, 2), (16, 3), (32, 4), (40, 5)])
def test_input_grad_norm_matches_reference(sub, ref, depth, seed, res):
    got = sub.input_grad_norm(depth, res, torch.Generator().manual_seed(seed))
    expected = ref.input_grad_norm(depth, res, torch.Generator().manual_seed(seed))
    assert_number(got, expected, f"input_grad_norm({depth}, residual={res}, generator seeded {seed})", rel=1e-7,
                  hint="follow the definition exactly: x drawn first, then W_1..W_depth, each "
                       "randn(d, d) * (0.5 / sqrt(d)) in float64; loss = h.sum()")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gradient_vanishes_without_residual(sub, seed):
    props.gradient_vanishes_without_residual(sub.input_grad_norm, seed=seed, depths=(32, 64))


def test_plain_gradient_shrinks_with_depth(sub):
    depths = (8, 16, 32, 48)
    vals = [sub.input_grad_norm(depth, False, torch.Generator().manual_seed(7)) for depth in depths]
    for da, db, a, b in zip(depths, depths[1:], vals, vals[1:]):
        if not b < a / 10:
            fail(f"input_grad_norm without residuals should keep shrinking with depth: depth {da} gave "
                 f"{a:.3g}, depth {db} gave {b:.3g}")


def test_depth_zero(sub):
    props.depth_zero(sub.input_grad_norm)


def test_seeded(sub):
    props.seeded(sub.input_grad_norm)


# --- bad arguments --------------------------------------------------------------------------------
def test_bad_block_arguments(sub, ref):
    x = torch.randn(2, 4, generator=torch.Generator().manual_seed(6))
    ident = lambda h: h  # noqa: E731
    shrink = lambda h: h[..., :2]  # noqa: E731
    double = lambda h: 2 * h  # noqa: E731
    for name, args in (("residual", (x, double)), ("pre_norm_block", (x, double, ident)),
                       ("post_norm_block", (x, double, props.standardize))):  # valid arguments are answered right
        assert_close(getattr(sub, name)(*args), getattr(ref, name)(*args), f"{name} with valid arguments")
    cases = [
        (sub.residual, (x, "not callable"), "residual with a string sublayer", ("sublayer",)),
        (sub.residual, (x, shrink), "residual with a sublayer that changes the shape", ("sublayer", "shape")),
        (sub.residual, ([[1.0, 2.0]], ident), "residual with a list x", ("x",)),
        (sub.pre_norm_block, (x, ident, None), "pre_norm_block with norm=None", ("norm",)),
        (sub.pre_norm_block, (x, 3, ident), "pre_norm_block with sublayer=3", ("sublayer",)),
        (sub.post_norm_block, (x, ident, "layer_norm"), "post_norm_block with a string norm", ("norm",)),
        (sub.post_norm_block, (x, shrink, ident), "post_norm_block with a shape-changing sublayer",
         ("sublayer", "shape")),
    ]
    for fn, args, what, mentions in cases:
        expect_value_error(fn, *args, what=what, mentions=mentions)


def _valid_grad_call(sub, ref):
    """A valid call answered right first: an input_grad_norm that rejects everything earns nothing."""
    for depth, res in ((3, True), (0, False)):
        assert_number(sub.input_grad_norm(depth, res, torch.Generator().manual_seed(9)),
                      ref.input_grad_norm(depth, res, torch.Generator().manual_seed(9)),
                      f"input_grad_norm({depth}, {res}, generator seeded 9) (valid)", rel=1e-7)


@pytest.mark.parametrize("args,name", [((-1, True), "depth"), ((2.5, True), "depth"), ((3, "yes"), "residual")])
def test_bad_depth(sub, ref, args, name):
    _valid_grad_call(sub, ref)
    expect_value_error(sub.input_grad_norm, *args, torch.Generator().manual_seed(0),
                       what=f"input_grad_norm{args + ('generator',)}", mentions=(name,))


def test_missing_generator(sub, ref):
    _valid_grad_call(sub, ref)
    expect_value_error(sub.input_grad_norm, 3, True, None, what="input_grad_norm(3, True, None)",
                       mentions=("generator",))


# --- trains: gradients
from grader.checks import grad  # noqa: E402


@pytest.mark.parametrize("block", ["residual", "pre_norm_block", "post_norm_block"])
@pytest.mark.parametrize("shape", [(6,), (2, 3, 5)])
def test_grad_blocks(sub, ref, block, shape):
    """d(block)/dx for the trusted sublayer and norm (in the isolated grader they take part in autograd as
    callbacks): the identity path and the sublayer's path must both carry the gradient."""
    x, f, norm = _inputs(shape, torch.float64, 6)
    args = (x, f) if block == "residual" else (x, f, norm)
    grad.gradients_match(sub._vjp, getattr(ref, block), args, wrt=("x",), seed=7)
