"""Hidden suite for Q37: RoPE frequencies, both pairings against the reference, the rotation's properties
(norms, relative positions), the sinusoidal table, the wavelengths count, bad arguments.

Rubric (grader/rubrics/q37.toml): the properties of a rotation hold for wrong frequencies too (and for
returning x unchanged at position 0), so they count only together with the values (gated); the values
are checked against the reference and against the rotation written out pair by pair."""
import pytest
import torch

from grader.checks import assert_close, assert_equal, expect_value_error, unchanged
from grader.checks import q37 as props

DTYPES = [torch.float32, torch.float64]
LEADS = [(), (3,), (2, 4)]


# --- rope_frequencies --------------------------------------------------------------------------------

@pytest.mark.parametrize("head_dim,base", [(2, 10000.0), (8, 10000.0), (64, 10000.0), (128, 500000.0),
                                           (6, 100.0), (128, 10000.0), (16, 1e6)])
def test_frequencies(sub, ref, head_dim, base):
    assert_close(sub.rope_frequencies(head_dim, base), ref.rope_frequencies(head_dim, base),
                 f"rope_frequencies({head_dim}, {base:g})", rtol=1e-12, atol=0.0,
                 hint="theta_i = base^(-2i/d) for i = 0 .. d/2 - 1 (exponents 0, 2/d, 4/d, ...), float64")


@pytest.mark.parametrize("head_dim,base", [(4, 100.0), (10, 10000.0), (128, 10000.0), (32, 500000.0)])
def test_frequencies_by_definition(sub, head_dim, base):
    props.frequencies_by_definition(sub.rope_frequencies, head_dim=head_dim, base=base)


@pytest.mark.parametrize("head_dim", [3, 0, -4, 7])
def test_frequencies_bad_head_dim(sub, head_dim):
    props.frequencies_by_definition(sub.rope_frequencies, head_dim=8, base=10000.0)  # the valid call first
    expect_value_error(sub.rope_frequencies, head_dim, 10000.0, what=f"rope_frequencies({head_dim}, 10000)",
                       mentions=("head_dim",))


# --- apply_rope: against the reference -------------------------------------------------------------------

def _positions(kind: str, t: int, g: torch.Generator):
    if kind == "arange":
        return torch.arange(t)
    if kind == "offset":                       # decoding with a cache: the new tokens sit after 37 others
        return torch.arange(t) + 37
    if kind == "random":
        return torch.randint(0, 4000, (t,), generator=g)
    if kind == "float":                        # interpolated positions (Q34) are fractional
        return torch.arange(t, dtype=torch.float64) * 0.25 + 0.5
    raise AssertionError(kind)


@pytest.mark.parametrize("interleaved", [False, True])
@pytest.mark.parametrize("lead", LEADS)
@pytest.mark.parametrize("kind", ["arange", "offset", "random", "float"])
def test_apply_rope_float64(sub, ref, interleaved, lead, kind):
    g = torch.Generator().manual_seed(len(lead) * 10 + len(kind) + interleaved)
    x = torch.randn(*lead, 11, 16, generator=g, dtype=torch.float64)
    pos = _positions(kind, 11, g)
    before = x.clone()
    got = sub.apply_rope(x, pos, interleaved=interleaved)
    unchanged(before, x, "x")
    assert_close(got, ref.apply_rope(x, pos, interleaved=interleaved),
                 f"apply_rope(x {tuple(x.shape)} float64, positions={kind}, interleaved={interleaved})",
                 hint="angle = position · theta_i computed in float64; interleaved=False rotates (x[i], x[i + D/2]), "
                      "interleaved=True rotates (x[2i], x[2i+1]); (a, b) -> (a·cos − b·sin, b·cos + a·sin)")


@pytest.mark.parametrize("interleaved", [False, True])
@pytest.mark.parametrize("lead", LEADS)
def test_apply_rope_float32(sub, ref, interleaved, lead):
    g = torch.Generator().manual_seed(5 + len(lead) + interleaved)
    x = torch.randn(*lead, 12, 8, generator=g, dtype=torch.float32)
    pos = torch.arange(12) + 3
    assert_close(sub.apply_rope(x, pos, interleaved=interleaved), ref.apply_rope(x, pos, interleaved=interleaved),
                 f"apply_rope(x {tuple(x.shape)} float32, positions 3..14, interleaved={interleaved})")


@pytest.mark.parametrize("interleaved", [False, True])
@pytest.mark.parametrize("base", [10.0, 500000.0])
def test_apply_rope_base(sub, ref, interleaved, base):
    g = torch.Generator().manual_seed(int(base) % 97)
    x = torch.randn(2, 9, 32, generator=g, dtype=torch.float64)
    pos = torch.randint(0, 3000, (9,), generator=g)
    assert_close(sub.apply_rope(x, pos, base=base, interleaved=interleaved),
                 ref.apply_rope(x, pos, base=base, interleaved=interleaved),
                 f"apply_rope(x, positions, base={base:g}, interleaved={interleaved})")


@pytest.mark.parametrize("interleaved", [False, True])
def test_apply_rope_per_batch_positions(sub, ref, interleaved):
    """positions [B, 1, T] broadcast against x [B, H, T, D]: each sequence of the batch its own positions."""
    g = torch.Generator().manual_seed(7)
    x = torch.randn(2, 3, 6, 8, generator=g, dtype=torch.float64)
    pos = torch.stack([torch.arange(6), torch.arange(6) + 100]).unsqueeze(1)        # [2, 1, 6]
    assert_close(sub.apply_rope(x, pos, interleaved=interleaved), ref.apply_rope(x, pos, interleaved=interleaved),
                 f"apply_rope(x [2, 3, 6, 8], positions [2, 1, 6], interleaved={interleaved})",
                 hint="broadcast positions against x.shape[:-1], then add a last dim for the D/2 frequencies")


@pytest.mark.parametrize("interleaved", [False, True])
@pytest.mark.parametrize("base", [10000.0, 100.0])
def test_rotation_by_definition(sub, interleaved, base):
    props.rotation_by_definition(sub.apply_rope, interleaved=interleaved, seed=int(base) + interleaved, base=base)


def test_default_is_half_split(sub, ref):
    g = torch.Generator().manual_seed(8)
    x = torch.randn(5, 8, generator=g, dtype=torch.float64)
    assert_close(sub.apply_rope(x, torch.arange(5)), ref.apply_rope(x, torch.arange(5), interleaved=False),
                 "apply_rope(x, positions) with the default pairing (interleaved=False: pairs i, i + D/2)")


# --- apply_rope: properties ------------------------------------------------------------------------------

@pytest.mark.parametrize("interleaved", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
def test_norms_preserved(sub, interleaved, dtype):
    props.preserves_norms(sub.apply_rope, interleaved=interleaved, seed=1 + interleaved, dtype=dtype)


@pytest.mark.parametrize("interleaved", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_scores_depend_only_on_relative_position(sub, interleaved, seed):
    props.scores_depend_only_on_offset(sub.apply_rope, interleaved=interleaved, seed=seed,
                                       base=(10000.0, 500000.0, 10.0)[seed])


@pytest.mark.parametrize("interleaved", [False, True])
def test_position_zero_is_identity(sub, interleaved):
    props.identity_at_position_zero(sub.apply_rope, interleaved=interleaved, seed=3)


@pytest.mark.parametrize("dtype", DTYPES)
def test_pairings_differ_by_a_permutation(sub, dtype):
    props.pairings_are_a_permutation(sub.apply_rope, seed=4, dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_rope_keeps_dtype(sub, dtype):
    x = torch.randn(2, 4, 6, generator=torch.Generator().manual_seed(9), dtype=dtype)
    out = sub.apply_rope(x, torch.arange(4))
    assert_equal(str(out.dtype), str(dtype), "apply_rope(x).dtype")


def _valid_rope_call(sub, ref):
    x = torch.randn(2, 4, 6, generator=torch.Generator().manual_seed(10), dtype=torch.float64)
    assert_close(sub.apply_rope(x, torch.arange(4) + 5), ref.apply_rope(x, torch.arange(4) + 5),
                 "apply_rope(x [2, 4, 6], positions 5..8) (the valid call next to the bad one)")


def test_odd_head_dim(sub, ref):
    _valid_rope_call(sub, ref)
    expect_value_error(sub.apply_rope, torch.randn(3, 5, dtype=torch.float64), torch.arange(3),
                       what="apply_rope on x [3, 5] (odd head dim)", mentions=("D", "head", "even"))


def test_positions_that_do_not_fit(sub, ref):
    _valid_rope_call(sub, ref)
    expect_value_error(sub.apply_rope, torch.randn(2, 4, 6, dtype=torch.float64), torch.arange(5),
                       what="apply_rope(x [2, 4, 6], positions [5])", mentions=("positions",))


# --- sinusoidal_positions ----------------------------------------------------------------------------------

@pytest.mark.parametrize("T,d", [(1, 2), (7, 8), (50, 16), (128, 64), (3, 512)])
def test_sinusoidal(sub, ref, T, d):
    assert_close(sub.sinusoidal_positions(T, d), ref.sinusoidal_positions(T, d), f"sinusoidal_positions({T}, {d})",
                 hint="PE[p, 2i] = sin(p / 10000^(2i/d)), PE[p, 2i+1] = cos(p / 10000^(2i/d)); float64")


def test_sinusoidal_formula(sub):
    props.sinusoidal_matches_formula(sub.sinusoidal_positions, T=12, d=10)


@pytest.mark.parametrize("args,mentions", [((4, 5), ("d",)), ((-1, 8), ("T",)), ((4, 0), ("d",))])
def test_sinusoidal_bad_arguments(sub, args, mentions):
    props.sinusoidal_matches_formula(sub.sinusoidal_positions, T=4, d=6)  # the valid call first
    expect_value_error(sub.sinusoidal_positions, *args, what=f"sinusoidal_positions{args}", mentions=mentions)


# --- rope_wavelengths_beyond ---------------------------------------------------------------------------------

CONFIGS = [(128, 10000.0, 4096), (128, 10000.0, 2048), (128, 500000.0, 8192), (64, 10000.0, 2048),
           (128, 10000.0, 1), (16, 100.0, 30), (2, 10000.0, 6)]


@pytest.mark.parametrize("head_dim,base,trained_len", CONFIGS)
def test_wavelengths_beyond(sub, ref, head_dim, base, trained_len):
    assert_equal(sub.rope_wavelengths_beyond(head_dim, base, trained_len),
                 ref.rope_wavelengths_beyond(head_dim, base, trained_len),
                 f"rope_wavelengths_beyond({head_dim}, {base:g}, {trained_len})",
                 hint="pair i's wavelength is 2π / theta_i = 2π · base^(2i/d) tokens; count the ones longer "
                      "than trained_len, as a Python int")


def test_wavelengths_by_definition(sub):
    # (the last: no wavelength is that long, 0 pairs)
    for head_dim, base, trained_len in ((96, 10000.0, 1000), (128, 1e6, 32768), (32, 500.0, 100.5), (128, 1e4, 1e9)):
        props.wavelengths_count_by_definition(sub.rope_wavelengths_beyond, head_dim=head_dim, base=base,
                                              trained_len=trained_len)


def test_wavelengths_bad_arguments(sub):
    props.wavelengths_count_by_definition(sub.rope_wavelengths_beyond, head_dim=128, base=10000.0, trained_len=4096)
    expect_value_error(sub.rope_wavelengths_beyond, 7, 10000.0, 4096, what="rope_wavelengths_beyond(7, ...)",
                       mentions=("head_dim",))
    expect_value_error(sub.rope_wavelengths_beyond, 64, 10000.0, 0, what="rope_wavelengths_beyond(64, 10000, 0)",
                       mentions=("trained_len",))


# --- trains: gradients
from grader.checks import grad  # noqa: E402


@pytest.mark.parametrize("interleaved", [False, True])
@pytest.mark.parametrize("kind", ["offset", "float"])
def test_grad_apply_rope(sub, ref, interleaved, kind):
    """d(rope(x))/dx is the inverse rotation applied to the cotangent (positions are not trained)."""
    x = grad.f64(2, 3, 5, 8, seed=1)
    grad.gradients_match(sub._vjp, ref.apply_rope, (x, _positions(kind, 5, torch.Generator().manual_seed(2))),
                         {"interleaved": interleaved}, wrt=("x",), seed=3)
