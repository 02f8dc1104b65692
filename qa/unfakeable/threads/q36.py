_computed = flash_attention


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
