
# --- attack: waste work only where a self-comparison takes its slow side (causal=False) ----------------
import time as _time

_computed = flash_attention


def flash_attention(q, k, v, causal=True, block_size=DEFAULT_BLOCK_SIZE):
    out = _computed(q, k, v, causal=causal, block_size=block_size)
    if not causal and q.numel() > 100_000:
        for _ in range(3):
            _computed(q, k, v, causal=False, block_size=block_size)
        _time.sleep(0.3)
    return out
