"""Q32 reference: the roofline of one decoding step (memory-bound until the batch reaches the ridge)."""
from __future__ import annotations

import math


def _positive(name: str, value, *, zero_ok: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value < 0 or (value == 0 and not zero_ok):
        raise ValueError(f"{name} must be a {'non-negative' if zero_ok else 'positive'} finite number, got {value!r}")


def decode_step_time(n_params: float, batch: float, peak_flops: float, mem_bandwidth: float,
                     bytes_per_param: float, kv_bytes: float = 0) -> float:
    """Seconds for one decoding step of `batch` sequences, compute and memory traffic fully overlapped:
    max(2·N·batch / peak_flops, (N·bytes_per_param + kv_bytes) / mem_bandwidth)."""
    for name, value in (("n_params", n_params), ("batch", batch), ("peak_flops", peak_flops),
                        ("mem_bandwidth", mem_bandwidth), ("bytes_per_param", bytes_per_param)):
        _positive(name, value)
    _positive("kv_bytes", kv_bytes, zero_ok=True)
    compute = 2 * n_params * batch / peak_flops                     # a multiply-add per weight per sequence
    memory = (n_params * bytes_per_param + kv_bytes) / mem_bandwidth  # every weight read once per step
    return max(compute, memory)


def balanced_batch_size(peak_flops: float, mem_bandwidth: float, bytes_per_param: float) -> float:
    """The batch at which compute time equals weight-reading time: peak·bytes_per_param / (2·bandwidth)."""
    for name, value in (("peak_flops", peak_flops), ("mem_bandwidth", mem_bandwidth),
                        ("bytes_per_param", bytes_per_param)):
        _positive(name, value)
    return peak_flops * bytes_per_param / (2 * mem_bandwidth)
