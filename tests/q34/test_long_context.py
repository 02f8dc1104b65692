"""Hidden suite for Q34: position interpolation, the NTK-aware base, KV-cache bytes (published figures,
linearity, against the reference), interpolated angles inside the trained range, bad arguments.

Rubric (grader/rubrics/q34.toml): every bad-argument test first checks the correct value on a valid input
next to the bad one, so an always-raising answer cannot pass it; the range property rejects NaN/inf."""
import pytest
import torch

from grader.checks import assert_close, assert_number, expect_value_error, fail, unchanged
from grader.checks import q34 as props

GIB = 2 ** 30


# --- kv_cache_bytes -------------------------------------------------------------------------------------

@pytest.mark.parametrize("name,args,expected", [
    ("Llama-3-8B, 32K tokens, fp16", dict(n_layers=32, n_kv_heads=8, head_dim=128, seq_len=32768, batch=1,
                                          bytes_per_elem=2), 4 * GIB),
    ("Llama-3-8B, 8K tokens, fp16", dict(n_layers=32, n_kv_heads=8, head_dim=128, seq_len=8192, batch=1,
                                         bytes_per_elem=2), 1 * GIB),
    ("Llama-2-7B (MHA, 32 kv heads), 4K tokens, fp16", dict(n_layers=32, n_kv_heads=32, head_dim=128, seq_len=4096,
                                                            batch=1, bytes_per_elem=2), 2 * GIB),
    ("Llama-2-70B (8 kv heads), 4K tokens, batch 8, fp16", dict(n_layers=80, n_kv_heads=8, head_dim=128,
                                                                seq_len=4096, batch=8, bytes_per_elem=2), 10 * GIB),
    ("Llama-3-8B, 32K tokens, 8-bit cache", dict(n_layers=32, n_kv_heads=8, head_dim=128, seq_len=32768, batch=1,
                                                 bytes_per_elem=1), 2 * GIB),
], ids=lambda v: v if isinstance(v, str) else None)
def test_published_figures(sub, name, args, expected):
    props.kv_bytes_exact(sub.kv_cache_bytes, args, expected, name)


@pytest.mark.parametrize("args,expected", [((32, 8, 128, 32768, 1, 0.5), 1 * GIB), ((32, 8, 128, 8192, 4, 0.5), 1 * GIB),
                                           ((80, 8, 128, 4096, 1, 0.5), 320 * 2 ** 20), ((1, 1, 2, 3, 1, 0.5), 6)])
def test_four_bit_cache(sub, args, expected):
    got = sub.kv_cache_bytes(*args)
    assert_number(got, expected, f"kv_cache_bytes{args} (a 4-bit cache: half a byte per element)", rel=1e-12,
                  hint="bytes_per_elem may be a fraction: 0.5 for 4-bit (do not round it to an int)")


@pytest.mark.parametrize("seed", range(4))
def test_kv_bytes_against_reference(sub, ref, seed):
    g = torch.Generator().manual_seed(seed)
    r = [int(v) for v in torch.randint(1, 97, (5,), generator=g)]
    args = dict(n_layers=r[0], n_kv_heads=r[1] % 16 + 1, head_dim=2 * r[2], seq_len=r[3] * 37, batch=r[4] % 5 + 1,
                bytes_per_elem=[1, 2, 0.5, 4][seed % 4])
    props.kv_bytes_exact(sub.kv_cache_bytes, args, ref.kv_cache_bytes(**args), f"random config {seed}")


@pytest.mark.parametrize("args", [dict(n_layers=32, n_kv_heads=8, head_dim=128, seq_len=1000, batch=3, bytes_per_elem=2),
                                  dict(n_layers=5, n_kv_heads=3, head_dim=64, seq_len=77, batch=2, bytes_per_elem=1)])
def test_kv_bytes_linear_in_each_argument(sub, args):
    props.kv_bytes_linear(sub.kv_cache_bytes, args)


def test_kv_bytes_empty_sequence(sub):
    one = dict(n_layers=32, n_kv_heads=8, head_dim=128, seq_len=1, batch=4, bytes_per_elem=2)
    props.kv_bytes_exact(sub.kv_cache_bytes, one, 2 * 32 * 8 * 128 * 4 * 2, "one token")
    props.kv_bytes_exact(sub.kv_cache_bytes, dict(one, seq_len=0), 0, "an empty cache")


@pytest.mark.parametrize("field,value", [("n_layers", -1), ("n_kv_heads", 2.5), ("head_dim", -128), ("seq_len", -5),
                                         ("batch", 1.5), ("bytes_per_elem", 0), ("bytes_per_elem", -2)])
def test_kv_bytes_bad_arguments(sub, field, value):
    args = dict(n_layers=32, n_kv_heads=8, head_dim=128, seq_len=1024, batch=1, bytes_per_elem=2)
    props.kv_bytes_exact(sub.kv_cache_bytes, args, 2 * GIB // 16, "a valid config (before the bad one)")
    args[field] = value
    expect_value_error(sub.kv_cache_bytes, what=f"kv_cache_bytes with {field}={value}", mentions=(field,), **args)


# --- interpolate_positions ------------------------------------------------------------------------------

@pytest.mark.parametrize("scale", [2.0, 4, 2.5, 8.0, 1.25])
@pytest.mark.parametrize("lead", [(), (3,), (2, 5)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_interpolate_positions_against_reference(sub, ref, dtype, lead, scale):
    g = torch.Generator().manual_seed(len(lead))
    positions = (32768 * torch.rand(*lead, 64, generator=g, dtype=torch.float64)).to(dtype)
    before = positions.clone()
    got = sub.interpolate_positions(positions, scale)
    unchanged(before, positions, "positions")
    assert_close(got, ref.interpolate_positions(positions, scale),
                 f"interpolate_positions(positions {tuple(positions.shape)} {dtype}, scale={scale})",
                 hint="positions / scale, keeping fractional positions and the input's dtype")


def test_interpolate_by_hand(sub):
    got = sub.interpolate_positions(torch.tensor([0.0, 1.0, 2.0, 32767.0], dtype=torch.float64), 4)
    assert_close(got, torch.tensor([0.0, 0.25, 0.5, 8191.75], dtype=torch.float64),
                 "interpolate_positions([0, 1, 2, 32767] float64, 4)", hint="positions / scale")
    positions = torch.tensor([3.0, 5.5], dtype=torch.float32)
    assert_close(sub.interpolate_positions(positions, 1), positions, "interpolate_positions([3, 5.5] float32, 1)",
                 hint="scale 1 changes nothing")


def test_interpolate_integer_positions(sub):
    positions = torch.arange(0, 32768, 7)
    got = sub.interpolate_positions(positions, 4)
    if not isinstance(got, torch.Tensor) or not got.is_floating_point():
        fail(f"interpolate_positions(integer positions, 4) should return a float tensor, got "
             f"{got.dtype if isinstance(got, torch.Tensor) else type(got).__name__}",
             hint="interpolated positions are fractional: 7 / 4 = 1.75")
    assert_close(got.to(torch.float64), positions.to(torch.float64) / 4, "interpolate_positions(arange(0, 32768, 7), 4)",
                 check_dtype=False, hint="positions / scale, fractions kept (not floor division)")


@pytest.mark.parametrize("base", [10000.0, 500000.0])
@pytest.mark.parametrize("trained_len,target_len", [(8192, 32768), (4096, 16384), (2048, 8192), (8192, 8192 * 3)])
def test_interpolated_angles_stay_in_trained_range(sub, base, trained_len, target_len):
    props.interpolated_angles_in_range(sub.interpolate_positions, trained_len=trained_len, target_len=target_len,
                                       head_dim=128, base=base)


@pytest.mark.parametrize("scale", [0, -4, 0.5, float("nan"), float("inf")])
def test_interpolate_bad_scale(sub, scale):
    positions = torch.arange(8, dtype=torch.float64)
    assert_close(sub.interpolate_positions(positions, 2.0), positions / 2, "interpolate_positions(arange(8), 2.0)",
                 hint="positions / scale")
    expect_value_error(sub.interpolate_positions, positions, scale,
                       what=f"interpolate_positions(positions, scale={scale})", mentions=("scale",))

# (positions given as a list is outside the contract, a tensor: neither accepting nor rejecting it is tested)


# --- ntk_scaled_base ------------------------------------------------------------------------------------

@pytest.mark.parametrize("base,scale,head_dim", [(10000.0, 4.0, 128), (500000.0, 4.0, 128), (10000.0, 2.0, 64),
                                                 (10000, 8, 96), (1e6, 1.5, 128), (10000.0, 16.0, 4),
                                                 (10000.0, 3.3, 80)])
def test_ntk_base_against_reference(sub, ref, base, scale, head_dim):
    assert_number(sub.ntk_scaled_base(base, scale, head_dim), ref.ntk_scaled_base(base, scale, head_dim),
                  f"ntk_scaled_base({base}, {scale}, {head_dim})", rel=1e-12,
                  hint="base * scale ** (head_dim / (head_dim - 2))")


def test_ntk_base_by_hand(sub):
    assert_number(sub.ntk_scaled_base(10000.0, 4.0, 128), 40889.94, "ntk_scaled_base(10000, 4, 128)", rel=1e-6,
                  hint="10000 · 4^(128/126) ≈ 40889.94")
    assert_number(sub.ntk_scaled_base(10000.0, 1.0, 128), 10000.0, "ntk_scaled_base(10000, 1, 128)", rel=1e-12,
                  hint="scale 1 leaves the base alone")


@pytest.mark.parametrize("base,scale,head_dim", [(10000.0, 4.0, 128), (500000.0, 4.0, 128), (10000.0, 8.0, 64),
                                                 (10000.0, 2.0, 6)])
def test_ntk_base_interpolates_lowest_frequency_only(sub, base, scale, head_dim):
    props.ntk_base_interpolates_lowest_frequency(sub.ntk_scaled_base, base=base, scale=scale, head_dim=head_dim)


@pytest.mark.parametrize("args,mentions", [((10000.0, 4.0, 2), ("head_dim",)), ((10000.0, 4.0, 127), ("head_dim",)),
                                           ((10000.0, 4.0, 64.0), ("head_dim",)), ((0.0, 4.0, 128), ("base",)),
                                           ((-10000.0, 4.0, 128), ("base",)), ((10000.0, 0.0, 128), ("scale",)),
                                           ((10000.0, 0.25, 128), ("scale",)), ((float("nan"), 4.0, 128), ("base",)),
                                           ((float("inf"), 4.0, 128), ("base",)), ((10000.0, float("inf"), 128), ("scale",)),
                                           ((10000.0, float("nan"), 128), ("scale",))])
def test_ntk_bad_arguments(sub, args, mentions):
    assert_number(sub.ntk_scaled_base(10000.0, 4.0, 128), 10000.0 * 4.0 ** (128 / 126), "ntk_scaled_base(10000, 4, 128)",
                  rel=1e-12, hint="base * scale ** (head_dim / (head_dim - 2))")
    expect_value_error(sub.ntk_scaled_base, *args, what=f"ntk_scaled_base{args}", mentions=mentions)
