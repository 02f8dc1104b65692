"""Hidden suite for Q27: GELU (both forms) against torch and the reference, the plain and SwiGLU FFNs
against the reference and torch, position-wise behaviour, parameter counts, bad arguments, no F.gelu."""
import math

import pytest
import torch

from grader.checks import assert_close, assert_equal, expect_value_error, unchanged
from grader.checks import q27 as props
from grader.forbidden import no_forbidden_calls

DTYPES = [torch.float32, torch.float64]


@pytest.fixture(autouse=True)
def _seeded():
    """The argument-checking tests draw from the global RNG: seed it so every run sees the same tensors."""
    torch.manual_seed(0)
LEADS = [(), (5,), (2, 5), (2, 3, 4)]


def _weights(g, dtype, d_model, d_ff, d_out=None, bias=True):
    d_out = d_model if d_out is None else d_out
    w1 = torch.randn(d_model, d_ff, generator=g, dtype=dtype) / math.sqrt(d_model)
    w2 = torch.randn(d_ff, d_out, generator=g, dtype=dtype) / math.sqrt(d_ff)
    b1 = torch.randn(d_ff, generator=g, dtype=dtype) * 0.5 if bias else None
    b2 = torch.randn(d_out, generator=g, dtype=dtype) * 0.5 if bias else None
    return w1, b1, w2, b2


# --- gelu ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("approximate", ["none", "tanh"])
@pytest.mark.parametrize("shape", [(), (7,), (3, 5), (2, 3, 4)])
def test_gelu_matches_torch_and_reference(sub, ref, shape, approximate, dtype):
    g = torch.Generator().manual_seed(len(shape) * 3 + (approximate == "tanh"))
    # within ±3.5 GELU is far from both 0 and x (|gelu(x) - x| >= 8e-4 there): echoing x or returning zeros fails
    x = (torch.randn(shape, generator=g, dtype=dtype) * 3).clamp(-3.5, 3.5)
    props.gelu_matches_torch(sub.gelu, x, approximate)
    assert_close(sub.gelu(x, approximate), ref.gelu(x, approximate),
                 f'gelu(x {tuple(shape)} {dtype}, approximate="{approximate}")', hint=props._GELU_HINT[approximate])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_over_a_wide_range(sub, approximate, dtype):
    """Around 0 the curve bends; far left it goes to 0 (no NaN), far right it equals x."""
    x = torch.cat([torch.linspace(-12, 12, 481, dtype=dtype), torch.tensor([-1e4, -60.0, 60.0, 1e4], dtype=dtype),
                   torch.linspace(-1e-3, 1e-3, 21, dtype=dtype)])
    props.gelu_matches_torch(sub.gelu, x, approximate)


def test_gelu_default_is_exact(sub, ref):
    x = torch.linspace(-4, 4, 41, dtype=torch.float64)
    assert_close(sub.gelu(x), ref.gelu(x, "none"), "gelu(x) with the default approximate",
                 hint='the default is approximate="none", the exact erf form')


def test_gelu_forms_differ(sub):
    """The tanh form is an approximation: it must not be returned for "none" (or the other way round)."""
    x = torch.linspace(-4, 4, 81, dtype=torch.float64)
    gap = (sub.gelu(x, "none") - sub.gelu(x, "tanh")).abs().max().item()
    if not 1e-5 < gap < 1e-2:
        from grader.checks import fail
        fail(f'gelu(x, "none") and gelu(x, "tanh") differ by at most {gap:.3g} on [-4, 4]; the true gap is '
             f"about 5e-4", hint='"none" is 0.5·x·(1 + erf(x/√2)); "tanh" is the tanh approximation')


def test_gelu_bad_approximate(sub, ref):
    x = torch.linspace(-3, 3, 7, dtype=torch.float64)
    assert_close(sub.gelu(x, "tanh"), ref.gelu(x, "tanh"), 'gelu(x, "tanh") (a valid approximate)')
    expect_value_error(sub.gelu, torch.zeros(3), "sigmoid", what='gelu(x, approximate="sigmoid")',
                       mentions=("approximate",))


@pytest.mark.forbidden
def test_gelu_writes_its_own_formula(sub):
    x = torch.randn(2, 5, generator=torch.Generator().manual_seed(0))
    with no_forbidden_calls(sub, "gelu"):  # the operators it runs, then the source
        sub.gelu(x)  # a stub fails here
        sub.gelu(x, "tanh")
        sub.gelu(x.double(), approximate="none")


# --- plain FFN ----------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", ["gelu", "relu"])
@pytest.mark.parametrize("lead", LEADS)
def test_ffn_matches_reference_and_torch(sub, ref, lead, activation, dtype):
    g = torch.Generator().manual_seed(10 * len(lead) + (activation == "relu"))
    x = torch.randn(*lead, 8, generator=g, dtype=dtype)
    w1, b1, w2, b2 = _weights(g, dtype, 8, 32)
    saved = [t.clone() for t in (x, w1, b1, w2, b2)]
    got = sub.ffn(x, w1, b1, w2, b2, activation)
    for before, after, name in zip(saved, (x, w1, b1, w2, b2), ("x", "w1", "b1", "w2", "b2")):
        unchanged(before, after, name)
    assert_close(got, ref.ffn(x, w1, b1, w2, b2, activation),
                 f'ffn(x {tuple(x.shape)} {dtype}, w1 (8, 32), w2 (32, 8), activation="{activation}")',
                 hint="act(x @ w1 + b1) @ w2 + b2, weights [in, out]")
    props.ffn_matches_torch(sub.ffn, x, w1, b1, w2, b2, activation)


@pytest.mark.parametrize("dtype", DTYPES)
def test_ffn_square_and_rectangular_weights(sub, ref, dtype):
    """With d_ff == d_model, x @ W.T also runs: only the values tell the orientation apart."""
    g = torch.Generator().manual_seed(3)
    for d_model, d_ff, d_out in ((6, 6, 6), (6, 16, 6), (6, 16, 4)):
        x = torch.randn(3, 4, d_model, generator=g, dtype=dtype)
        w1, b1, w2, b2 = _weights(g, dtype, d_model, d_ff, d_out)
        for activation in ("gelu", "relu"):
            assert_close(sub.ffn(x, w1, b1, w2, b2, activation), ref.ffn(x, w1, b1, w2, b2, activation),
                         f'ffn with w1 {tuple(w1.shape)}, w2 {tuple(w2.shape)}, activation="{activation}"',
                         hint="weights are [in, out] and applied as x @ W, not x @ W.T")


@pytest.mark.parametrize("dtype", DTYPES)
def test_ffn_without_biases(sub, ref, dtype):
    g = torch.Generator().manual_seed(4)
    x = torch.randn(2, 5, 8, generator=g, dtype=dtype)
    w1, _, w2, _ = _weights(g, dtype, 8, 24, bias=False)
    for activation in ("gelu", "relu"):
        assert_close(sub.ffn(x, w1, None, w2, None, activation), ref.ffn(x, w1, None, w2, None, activation),
                     f'ffn(x, w1, None, w2, None, "{activation}")', hint="b1=None and b2=None mean no bias")


@pytest.mark.parametrize("dtype", DTYPES)
def test_ffn_with_one_bias(sub, ref, dtype):
    """Each bias is optional on its own: b1 without b2, and b2 without b1."""
    g = torch.Generator().manual_seed(7)
    x = torch.randn(3, 5, 8, generator=g, dtype=dtype)
    w1, b1, w2, b2 = _weights(g, dtype, 8, 24)
    for activation in ("gelu", "relu"):
        for bb1, bb2, label in ((b1, None, "b1, None"), (None, b2, "None, b2")):
            assert_close(sub.ffn(x, w1, bb1, w2, bb2, activation), ref.ffn(x, w1, bb1, w2, bb2, activation),
                         f'ffn(x, w1, {label.split(", ")[0]}, w2, {label.split(", ")[1]}, "{activation}")',
                         hint="add b1 if it is given and b2 if it is given, each on its own")


def test_ffn_default_activation_is_exact_gelu(sub, ref):
    g = torch.Generator().manual_seed(5)
    x = torch.randn(4, 8, generator=g, dtype=torch.float64)
    w1, b1, w2, b2 = _weights(g, torch.float64, 8, 32)
    assert_close(sub.ffn(x, w1, b1, w2, b2), ref.ffn(x, w1, b1, w2, b2, "gelu"),
                 "ffn(x, w1, b1, w2, b2) with the default activation", hint='the default is "gelu" (exact)')


@pytest.mark.parametrize("dtype", DTYPES)
def test_ffns_are_position_wise(sub, dtype):
    g = torch.Generator().manual_seed(6)
    x = torch.randn(2, 7, 8, generator=g, dtype=dtype)
    w1, b1, w2, b2 = _weights(g, dtype, 8, 32)
    w_gate, w_up, w_down = w1, torch.randn(8, 32, generator=g, dtype=dtype) / math.sqrt(8), w2
    for activation in ("gelu", "relu"):
        props.position_wise(lambda t: sub.ffn(t, w1, b1, w2, b2, activation), x, f'ffn("{activation}")', seed=1)
    props.position_wise(lambda t: sub.swiglu_ffn(t, w_gate, w_up, w_down), x, "swiglu_ffn", seed=2)


@pytest.mark.parametrize("bad,mentions", [
    ("w1", ("w1",)), ("b1", ("b1",)), ("w2", ("w2",)), ("b2", ("b2",)), ("activation", ("activation",)),
])
def test_ffn_bad_arguments(sub, ref, bad, mentions):
    args = {"x": torch.randn(3, 8), "w1": torch.randn(8, 16), "b1": torch.randn(16), "w2": torch.randn(16, 8),
            "b2": torch.randn(8), "activation": "relu"}
    assert_close(sub.ffn(*args.values()), ref.ffn(*args.values()), "ffn with valid arguments (x (3, 8), w1 (8, 16), "
                 "b1 (16,), w2 (16, 8), b2 (8,), \"relu\")", hint="the valid call must work before the bad ones fail")
    args[bad] = {"w1": torch.randn(7, 16), "b1": torch.randn(8), "w2": torch.randn(8, 8), "b2": torch.randn(16),
                 "activation": "tanh"}[bad]
    shapes = {k: tuple(v.shape) if isinstance(v, torch.Tensor) else v for k, v in args.items()}
    expect_value_error(sub.ffn, *args.values(), what=f"ffn with {bad} wrong ({shapes})", mentions=mentions)


# --- SwiGLU FFN ---------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("lead", LEADS)
def test_swiglu_matches_reference_and_torch(sub, ref, lead, dtype):
    g = torch.Generator().manual_seed(20 + len(lead))
    x = torch.randn(*lead, 8, generator=g, dtype=dtype)
    w_gate, w_up = (torch.randn(8, 24, generator=g, dtype=dtype) / math.sqrt(8) for _ in range(2))
    w_down = torch.randn(24, 8, generator=g, dtype=dtype) / math.sqrt(24)
    saved = [t.clone() for t in (x, w_gate, w_up, w_down)]
    got = sub.swiglu_ffn(x, w_gate, w_up, w_down)
    for before, after, name in zip(saved, (x, w_gate, w_up, w_down), ("x", "w_gate", "w_up", "w_down")):
        unchanged(before, after, name)
    assert_close(got, ref.swiglu_ffn(x, w_gate, w_up, w_down),
                 f"swiglu_ffn(x {tuple(x.shape)} {dtype}, w_gate/w_up (8, 24), w_down (24, 8))",
                 hint="(silu(x @ w_gate) * (x @ w_up)) @ w_down")
    props.swiglu_matches_torch(sub.swiglu_ffn, x, w_gate, w_up, w_down)


@pytest.mark.parametrize("dtype", DTYPES)
def test_swiglu_square_weights(sub, ref, dtype):
    g = torch.Generator().manual_seed(21)
    x = torch.randn(4, 6, generator=g, dtype=dtype)
    w_gate, w_up, w_down = (torch.randn(6, 6, generator=g, dtype=dtype) / math.sqrt(6) for _ in range(3))
    assert_close(sub.swiglu_ffn(x, w_gate, w_up, w_down), ref.swiglu_ffn(x, w_gate, w_up, w_down),
                 "swiglu_ffn with square (6, 6) weights", hint="weights are [in, out] and applied as x @ W")


@pytest.mark.parametrize("bad,mentions", [("w_gate", ("w_gate",)), ("w_up", ("w_up", "w_gate")),
                                          ("w_down", ("w_down",))])
def test_swiglu_bad_arguments(sub, ref, bad, mentions):
    args = {"x": torch.randn(3, 8), "w_gate": torch.randn(8, 16), "w_up": torch.randn(8, 16),
            "w_down": torch.randn(16, 8)}
    assert_close(sub.swiglu_ffn(*args.values()), ref.swiglu_ffn(*args.values()),
                 "swiglu_ffn with valid arguments (x (3, 8), w_gate/w_up (8, 16), w_down (16, 8))",
                 hint="the valid call must work before the bad ones fail")
    args[bad] = {"w_gate": torch.randn(5, 16), "w_up": torch.randn(8, 12), "w_down": torch.randn(12, 8)}[bad]
    shapes = {k: tuple(v.shape) for k, v in args.items()}
    expect_value_error(sub.swiglu_ffn, *args.values(), what=f"swiglu_ffn with {bad} wrong ({shapes})",
                       mentions=mentions)


# --- parameter counts ---------------------------------------------------------------------------

@pytest.mark.parametrize("d_model,d_ff", [(768, 3072), (4096, 11008), (4096, 14336), (8, 8), (1, 1), (64, 172)])
def test_ffn_params(sub, ref, d_model, d_ff):
    props.params_match_torch(sub.ffn_params, d_model, d_ff)
    for gated in (False, True):
        assert_equal(sub.ffn_params(d_model, d_ff, gated), ref.ffn_params(d_model, d_ff, gated),
                     f"ffn_params({d_model}, {d_ff}, gated={gated})")


def test_ffn_params_default_is_plain(sub, ref):
    assert_equal(sub.ffn_params(768, 3072), ref.ffn_params(768, 3072, False), "ffn_params(768, 3072)",
                 hint="gated defaults to False")


@pytest.mark.parametrize("args,mentions", [((0, 16, False), ("d_model",)), ((16, -4, True), ("d_ff",)),
                                           ((16.0, 64, False), ("d_model",))])
def test_ffn_params_bad_arguments(sub, ref, args, mentions):
    assert_equal(sub.ffn_params(16, 64, args[2]), ref.ffn_params(16, 64, args[2]), f"ffn_params(16, 64, {args[2]})")
    expect_value_error(sub.ffn_params, *args, what=f"ffn_params{args} (sizes must be positive ints)",
                       mentions=mentions)


# --- trains: gradients
from grader.checks import grad  # noqa: E402


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_grad_gelu(sub, ref, approximate):
    grad.gradients_match(sub._vjp, ref.gelu, (grad.f64(3, 7, seed=1, scale=2.0), approximate), wrt=("x",), seed=2)


@pytest.mark.parametrize("activation,biases", [("gelu", True), ("relu", False)])
def test_grad_ffn(sub, ref, activation, biases):
    x, w1, w2 = grad.f64(2, 3, 4, seed=3), grad.f64(4, 6, seed=4, scale=0.5), grad.f64(6, 5, seed=5, scale=0.4)
    b1, b2 = (grad.f64(6, seed=6), grad.f64(5, seed=7)) if biases else (None, None)
    wrt = ("x", "w1", "b1", "w2", "b2") if biases else ("x", "w1", "w2")
    grad.gradients_match(sub._vjp, ref.ffn, (x, w1, b1, w2, b2, activation), wrt=wrt, seed=8)


@pytest.mark.parametrize("lead", [(5,), (2, 3)])
def test_grad_swiglu_ffn(sub, ref, lead):
    x = grad.f64(*lead, 4, seed=9)
    w_gate, w_up, w_down = grad.f64(4, 6, seed=10, scale=0.5), grad.f64(4, 6, seed=11, scale=0.5), grad.f64(6, 4, seed=12, scale=0.4)
    grad.gradients_match(sub._vjp, ref.swiglu_ffn, (x, w_gate, w_up, w_down), wrt=("x", "w_gate", "w_up", "w_down"),
                         seed=13)
