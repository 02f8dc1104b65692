"""Q32: is decoding bandwidth-bound or compute-bound? Read README.md; self-check: pytest exercises/q32

The roofline of one decoding step (compute and memory traffic overlap perfectly):
    compute time = 2 · n_params · batch / peak_flops                        (a multiply-add per weight per sequence)
    memory time  = (n_params · bytes_per_param + kv_bytes) / mem_bandwidth   (all weights read once per step)
    step time    = max(compute time, memory time)
Units: FLOP/s, bytes/s, bytes; seconds out.
"""
from __future__ import annotations


def decode_step_time(n_params: float, batch: float, peak_flops: float, mem_bandwidth: float,
                     bytes_per_param: float, kv_bytes: float = 0) -> float:
    """Seconds for one decoding step of `batch` sequences: max(compute time, memory time) above.

    kv_bytes is the KV cache read in this step (all sequences together). n_params, batch, peak_flops,
    mem_bandwidth, bytes_per_param must be > 0 and kv_bytes >= 0 (finite numbers; batch may be
    fractional), else ValueError naming the argument.
    """
    raise NotImplementedError


def balanced_batch_size(peak_flops: float, mem_bandwidth: float, bytes_per_param: float) -> float:
    """The batch at which compute time equals weight-reading time: peak_flops·bytes_per_param / (2·mem_bandwidth).

    A100 (312e12 FLOP/s fp16, 2.0e12 B/s) with fp16 weights (2 bytes): 156, for any model size.
    """
    raise NotImplementedError
