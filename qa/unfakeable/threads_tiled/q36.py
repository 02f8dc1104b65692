
# --- attack: more threads than the trusted baseline (torch's and our own), and a background burner ------
import concurrent.futures as _futures
import threading as _threading

torch.set_num_threads(2)
_computed = flash_attention
_busy = _threading.Event()


def _burn():  # memory-heavy work while the worker is idle: the trusted baseline runs meanwhile
    a = torch.randn(1024, 1024)
    while True:
        if not _busy.is_set():
            a = (a @ a).tanh_()


try:
    _threading.Thread(target=_burn, daemon=True).start()
    _pool = _futures.ThreadPoolExecutor(2)
except RuntimeError:  # no threads allowed: carry on without them
    _pool = None


def flash_attention(q, k, v, causal=True, block_size=DEFAULT_BLOCK_SIZE):
    _busy.set()
    try:
        if _pool is None or q.dim() != 4 or q.shape[1] < 2:
            return _computed(q, k, v, causal=causal, block_size=block_size)
        h = q.shape[1] // 2
        try:
            jobs = [_pool.submit(_computed, q[:, s], k[:, s], v[:, s], causal, block_size)
                    for s in (slice(0, h), slice(h, None))]
        except RuntimeError:
            return _computed(q, k, v, causal=causal, block_size=block_size)
        return torch.cat([j.result() for j in jobs], dim=1)
    finally:
        _busy.clear()
