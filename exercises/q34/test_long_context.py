"""Self-check for Q34. Run: pytest exercises/q34"""
import torch

from grader.checks import assert_close, assert_number, expect_value_error
from grader.checks import q34 as props

LLAMA3_8B = dict(n_layers=32, n_kv_heads=8, head_dim=128)


def test_llama3_8b_at_32k_is_4_gib(sub):
    props.kv_bytes_exact(sub.kv_cache_bytes, dict(LLAMA3_8B, seq_len=32768, batch=1, bytes_per_elem=2), 4 * 2 ** 30,
                         "Llama-3-8B at 32K tokens in fp16")
    props.kv_bytes_exact(sub.kv_cache_bytes, dict(LLAMA3_8B, seq_len=8192, batch=1, bytes_per_elem=2), 2 ** 30,
                         "Llama-3-8B at 8K tokens in fp16")


def test_kv_bytes_linear(sub):
    props.kv_bytes_linear(sub.kv_cache_bytes, dict(LLAMA3_8B, seq_len=100, batch=2, bytes_per_elem=2))


def test_interpolate_by_hand(sub):
    got = sub.interpolate_positions(torch.tensor([0.0, 1.0, 2.0, 32767.0], dtype=torch.float64), 4)
    assert_close(got, torch.tensor([0.0, 0.25, 0.5, 8191.75], dtype=torch.float64),
                 "interpolate_positions([0, 1, 2, 32767], 4)", hint="positions / scale")


def test_interpolated_angles_in_trained_range(sub):
    props.interpolated_angles_in_range(sub.interpolate_positions, trained_len=8192, target_len=32768, head_dim=128,
                                       base=10000.0)


def test_ntk_base_by_hand(sub):
    assert_number(sub.ntk_scaled_base(10000.0, 4.0, 128), 10000.0 * 4.0 ** (128 / 126),
                  "ntk_scaled_base(10000, 4, 128)", rel=1e-12, hint="base * scale ** (d / (d - 2))")
    assert_number(sub.ntk_scaled_base(10000.0, 1.0, 128), 10000.0, "ntk_scaled_base(10000, 1, 128)", rel=1e-12)


def test_ntk_slows_only_the_slow_frequencies(sub):
    props.ntk_base_interpolates_lowest_frequency(sub.ntk_scaled_base, base=10000.0, scale=4.0, head_dim=128)


def test_bad_arguments(sub):
    expect_value_error(sub.interpolate_positions, torch.arange(4), 0, what="interpolate_positions(p, scale=0)",
                       mentions=("scale",))
    expect_value_error(sub.ntk_scaled_base, 10000.0, 4.0, 2, what="ntk_scaled_base(10000, 4, head_dim=2)",
                       mentions=("head_dim",))
    expect_value_error(sub.kv_cache_bytes, 32, 8, 128, -1, 1, 2, what="kv_cache_bytes with seq_len=-1",
                       mentions=("seq_len",))
