"""Hidden suite for Q34: position interpolation, the NTK-aware base, KV-cache bytes (published figures,
linearity, against the reference), interpolated angles inside the trained range, bad arguments."""
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


def test_four_bit_cache(sub):
    got = sub.kv_cache_bytes(32, 8, 128, 32768, 1, 0.5)
    assert_number(got, 1 * GIB, "kv_cache_bytes(32, 8, 128, 32768, 1, bytes_per_elem=0.5) (4-bit cache)", rel=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_kv_bytes_against_reference(sub, ref, seed):
    g = torch.Generator().manual_seed(seed)
    r = [int(v) for v in torch.randint(1, 97, (5,), generator=g)]
    args = dict(n_layers=r[0], n_kv_heads=r[1] % 16 + 1, head_dim=2 * r[2], seq_len=r[3] * 37, batch=r[4] % 5 + 1,
                bytes_per_elem=[1, 2, 4][seed % 3])
    props.kv_bytes_exact(sub.kv_cache_bytes, args, ref.kv_cache_bytes(**args), f"random config {seed}")


@pytest.mark.parametrize("args", [dict(n_layers=32, n_kv_heads=8, head_dim=128, seq_len=1000, batch=3, bytes_per_elem=2),
                                  dict(n_layers=5, n_kv_heads=3, head_dim=64, seq_len=77, batch=2, bytes_per_elem=1)])
def test_kv_bytes_linear_in_each_argument(sub, args):
    props.kv_bytes_linear(sub.kv_cache_bytes, args)


def test_kv_bytes_empty_sequence(sub):
    props.kv_bytes_exact(sub.kv_cache_bytes, dict(n_layers=32, n_kv_heads=8, head_dim=128, seq_len=0, batch=4,
                                                  bytes_per_elem=2), 0, "an empty cache")


@pytest.mark.parametrize("field,value", [("n_layers", -1), ("n_kv_heads", 2.5), ("head_dim", -128), ("seq_len", -5),
                                         ("batch", 1.5), ("bytes_per_elem", 0), ("bytes_per_elem", -2)])
def test_kv_bytes_bad_arguments(sub, field, value):
    args = dict(n_layers=32, n_kv_heads=8, head_dim=128, seq_len=1024, batch=1, bytes_per_elem=2)
    args[field] = value
    expect_value_error(sub.kv_cache_bytes, what=f"kv_cache_bytes with {field}={value}", mentions=(field,), **args)


# --- interpolate_positions ------------------------------------------------------------------------------

@pytest.mark.parametrize("scale", [1.0, 2.0, 4, 2.5, 8.0])
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
    expect_value_error(sub.interpolate_positions, torch.arange(8), scale,
                       what=f"interpolate_positions(positions, scale={scale})", mentions=("scale",))


def test_interpolate_positions_not_a_tensor(sub):
    expect_value_error(sub.interpolate_positions, [0, 1, 2], 2.0, what="interpolate_positions([0, 1, 2], 2.0)",
                       mentions=("positions",))


# --- ntk_scaled_base ------------------------------------------------------------------------------------

@pytest.mark.parametrize("base,scale,head_dim", [(10000.0, 4.0, 128), (500000.0, 4.0, 128), (10000.0, 2.0, 64),
                                                 (10000, 8, 96), (1e6, 1.0, 128), (10000.0, 16.0, 4),
                                                 (10000.0, 3.3, 80)])
def test_ntk_base_against_reference(sub, ref, base, scale, head_dim):
    assert_number(sub.ntk_scaled_base(base, scale, head_dim), ref.ntk_scaled_base(base, scale, head_dim),
                  f"ntk_scaled_base({base}, {scale}, {head_dim})", rel=1e-12,
                  hint="base * scale ** (head_dim / (head_dim - 2))")


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
    expect_value_error(sub.ntk_scaled_base, *args, what=f"ntk_scaled_base{args}", mentions=mentions)
