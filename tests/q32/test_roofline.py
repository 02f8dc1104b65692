"""Hidden suite for Q32: the roofline against the formula computed here, A100 → 156, flat below the
crossover and linear above it (with and without KV cache), kv_bytes is memory traffic, bad arguments."""
import random

import pytest

from grader.checks import assert_number, expect_value_error
from grader.checks import q32 as props

A100 = (312e12, 2.0e12)
REL = 1e-12


def roofline(n, b, peak, bw, bpp, kv=0.0):
    return max(2 * n * b / peak, (n * bpp + kv) / bw)


def test_a100_fp16_gives_156(sub):
    assert_number(sub.balanced_batch_size(*A100, 2), 156.0, "balanced_batch_size(312e12, 2.0e12, 2)", rel=REL,
                  hint="peak_flops · bytes_per_param / (2 · mem_bandwidth)")


@pytest.mark.parametrize("n_params", [124e6, 6.74e9, 7e9, 70e9])
def test_a100_step_balances_at_156(sub, n_params):
    # Compute time and weight-reading time are equal at batch 156 for any model size (no KV cache).
    t = sub.decode_step_time(n_params, 156, *A100, 2)
    assert_number(t, n_params * 2 / 2.0e12, f"decode_step_time({n_params:g}, 156, A100, fp16) (memory time)", rel=REL)
    assert_number(t, 2 * n_params * 156 / 312e12, f"decode_step_time({n_params:g}, 156, A100, fp16) (compute time)",
                  rel=1e-9)


@pytest.mark.parametrize("bpp,expected", [(0.5, 39.0), (1, 78.0), (2, 156.0), (4, 312.0)])
def test_a100_other_precisions(sub, bpp, expected):
    assert_number(sub.balanced_batch_size(*A100, bpp), expected, f"balanced_batch_size(A100, {bpp} bytes/param)",
                  rel=REL, hint="fewer bytes per weight means less to read: memory-bound up to a smaller batch")


@pytest.mark.parametrize("seed", range(3))
def test_balanced_batch_random(sub, seed):
    rng = random.Random(seed)
    for _ in range(30):
        peak, bw, bpp = 10 ** rng.uniform(12, 16), 10 ** rng.uniform(10, 13), rng.choice([0.5, 1, 2, 4])
        assert_number(sub.balanced_batch_size(peak, bw, bpp), peak * bpp / (2 * bw),
                      f"balanced_batch_size({peak:g}, {bw:g}, {bpp})", rel=REL)


@pytest.mark.parametrize("seed", range(3))
def test_step_time_random(sub, seed):
    rng = random.Random(10 + seed)
    for _ in range(40):
        n, b = 10 ** rng.uniform(7, 12), rng.choice([1, 2, 7, 64, 156, 300, 1000, 4096])
        peak, bw, bpp = 10 ** rng.uniform(12, 16), 10 ** rng.uniform(10, 13), rng.choice([0.5, 1, 2, 4])
        kv = rng.choice([0, 0, 10 ** rng.uniform(6, 11)])
        assert_number(sub.decode_step_time(n, b, peak, bw, bpp, kv_bytes=kv), roofline(n, b, peak, bw, bpp, kv),
                      f"decode_step_time({n:g}, {b}, {peak:g}, {bw:g}, {bpp}, kv_bytes={kv:g})", rel=REL,
                      hint="max(2·N·batch / peak_flops, (N·bytes_per_param + kv_bytes) / mem_bandwidth)")


@pytest.mark.parametrize("n_params,peak,bw,bpp", [(7e9, 312e12, 2.0e12, 2), (70e9, 989e12, 3.35e12, 2),
                                                   (8e9, 312e12, 2.0e12, 1), (124e6, 83e12, 1.0e12, 4)])
def test_regimes_without_kv(sub, n_params, peak, bw, bpp):
    props.check_regimes(sub.decode_step_time, n_params, peak, bw, bpp)


@pytest.mark.parametrize("kv_bytes", [1e8, 4.3e9, 3e10])
def test_regimes_with_kv(sub, kv_bytes):
    props.check_regimes(sub.decode_step_time, 7e9, *A100, 2, kv_bytes=kv_bytes)


def test_regime_switch_at_the_balanced_batch(sub):
    b_star = sub.balanced_batch_size(*A100, 2)
    memory = 7e9 * 2 / 2.0e12
    assert_number(sub.decode_step_time(7e9, b_star * 0.99, *A100, 2), memory,
                  "decode_step_time just below balanced_batch_size (memory-bound)", rel=REL)
    assert_number(sub.decode_step_time(7e9, b_star * 1.01, *A100, 2), memory * 1.01,
                  "decode_step_time just above balanced_batch_size (compute-bound)", rel=1e-9)


def test_kv_bytes_is_memory_traffic(sub):
    base = sub.decode_step_time(7e9, 8, *A100, 2)
    for kv in (1e9, 4e9, 16e9):
        assert_number(sub.decode_step_time(7e9, 8, *A100, 2, kv_bytes=kv) - base, kv / 2.0e12,
                      f"decode_step_time(kv_bytes={kv:g}) - decode_step_time(kv_bytes=0), memory-bound",
                      rel=1e-9, hint="kv_bytes are bytes read on top of the weights: + kv_bytes / mem_bandwidth")
    # Deep in the compute-bound regime a small cache changes nothing.
    assert_number(sub.decode_step_time(7e9, 4096, *A100, 2, kv_bytes=1e9), 2 * 7e9 * 4096 / 312e12,
                  "decode_step_time(7e9, 4096, A100, fp16, kv_bytes=1e9) (compute-bound)", rel=REL)


@pytest.mark.parametrize("bpp", [1, 2, 4])
def test_batch_of_one_is_weight_reading(sub, bpp):
    assert_number(sub.decode_step_time(7e9, 1, *A100, bpp), 7e9 * bpp / 2.0e12,
                  f"decode_step_time(7e9, 1, A100, {bpp} bytes/param)", rel=REL,
                  hint="one sequence: the step costs exactly the time to read every weight once")


GOOD = dict(n_params=7e9, batch=8, peak_flops=312e12, mem_bandwidth=2e12, bytes_per_param=2, kv_bytes=0)
BAD = [("n_params", 0), ("n_params", -7e9), ("batch", 0), ("batch", -1), ("peak_flops", 0), ("mem_bandwidth", 0),
       ("mem_bandwidth", -2e12), ("bytes_per_param", 0), ("kv_bytes", -1), ("peak_flops", float("nan")),
       ("mem_bandwidth", float("inf"))]


@pytest.mark.parametrize("name,value", BAD)
def test_decode_step_time_bad_arguments(sub, name, value):
    assert_number(sub.decode_step_time(*list(GOOD.values())[:5], kv_bytes=1e9), roofline(7e9, 8, 312e12, 2e12, 2, 1e9),
                  "decode_step_time(7e9, 8, 312e12, 2e12, 2, kv_bytes=1e9) (valid arguments)", rel=REL)
    kwargs = dict(GOOD, **{name: value})
    expect_value_error(lambda: sub.decode_step_time(kwargs["n_params"], kwargs["batch"], kwargs["peak_flops"],
                                                    kwargs["mem_bandwidth"], kwargs["bytes_per_param"],
                                                    kv_bytes=kwargs["kv_bytes"]),
                       what=f"decode_step_time with {name}={value!r}", mentions=(name,))


@pytest.mark.parametrize("args,name", [((0, 2e12, 2), "peak_flops"), ((312e12, 0, 2), "mem_bandwidth"),
                                       ((312e12, 2e12, 0), "bytes_per_param"), ((312e12, -2e12, 2), "mem_bandwidth"),
                                       ((-312e12, 2e12, 2), "peak_flops"), ((float("nan"), 2e12, 2), "peak_flops"),
                                       ((312e12, float("inf"), 2), "mem_bandwidth"), ((312e12, 2e12, -1), "bytes_per_param")])
def test_balanced_batch_size_bad_arguments(sub, args, name):
    assert_number(sub.balanced_batch_size(*A100, 1), 78.0, "balanced_batch_size(312e12, 2e12, 1) (valid arguments)",
                  rel=REL)
    expect_value_error(sub.balanced_batch_size, *args, what=f"balanced_batch_size{args}", mentions=(name,))
