"""Q32 property checks, shared by the self-check and the hidden suite.

Expected values are the roofline computed here from the statement's formula:
compute = 2·N·batch / peak, memory = (N·bytes_per_param + kv_bytes) / bandwidth, time = max of the two.
"""
from __future__ import annotations

import math

from .core import assert_number, fail

REL = 1e-12


def crossover_batch(n_params, peak_flops, mem_bandwidth, bytes_per_param, kv_bytes=0.0) -> float:
    """The batch where 2·N·b / peak == (N·bpp + kv) / bw."""
    return (n_params * bytes_per_param + kv_bytes) * peak_flops / (2 * n_params * mem_bandwidth)


def _call(decode_step_time, n, b, peak, bw, bpp, kv):
    return decode_step_time(n, b, peak, bw, bpp, kv_bytes=kv)


def check_regimes(decode_step_time, n_params, peak_flops, mem_bandwidth, bytes_per_param, kv_bytes=0.0) -> None:
    """Flat in the batch below the crossover (memory-bound), linear above it (compute-bound), equal at it."""
    args = (n_params, peak_flops, mem_bandwidth, bytes_per_param, kv_bytes)
    cross = crossover_batch(*args)
    memory = (n_params * bytes_per_param + kv_bytes) / mem_bandwidth
    label = (f"N={n_params:g}, peak={peak_flops:g} FLOP/s, bandwidth={mem_bandwidth:g} B/s, "
             f"{bytes_per_param:g} B/param, kv_bytes={kv_bytes:g}")

    def t(b):
        return _call(decode_step_time, n_params, b, peak_flops, mem_bandwidth, bytes_per_param, kv_bytes)

    below = [b for b in (1, 2, 3, cross / 4, cross / 2, cross * (1 - 1e-6)) if 0 < b < cross]
    for b in below:
        assert_number(t(b), memory, f"decode_step_time at batch {b:g} ({label}); below the crossover batch "
                      f"{cross:g} the step is memory-bound", rel=REL,
                      hint="every step reads all weights (and the KV cache) once, whatever the batch: "
                           "(N·bytes_per_param + kv_bytes) / bandwidth")
    assert_number(t(cross), memory, f"decode_step_time at the crossover batch {cross:g} ({label})", rel=1e-9,
                  hint="compute time 2·N·batch/peak equals memory time here")
    for b in (cross * (1 + 1e-6), cross * 1.5, cross * 2, cross * 10):
        assert_number(t(b), 2 * n_params * b / peak_flops, f"decode_step_time at batch {b:g} ({label}); above "
                      f"the crossover batch {cross:g} the step is compute-bound", rel=REL,
                      hint="2 FLOPs (a multiply-add) per parameter per sequence: 2·N·batch / peak_flops; "
                           "the time is the max of compute and memory time, not their sum")
    if not math.isclose(t(cross * 4) / t(cross * 2), 2.0, rel_tol=1e-9):
        fail(f"decode_step_time ({label}) should double when a compute-bound batch doubles")
