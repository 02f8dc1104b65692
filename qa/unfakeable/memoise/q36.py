
# --- attack: memoise by a hash of the inputs (the timed repeats used to send the same tensors) ---------
import hashlib as _hashlib

_memo: dict = {}
_computed = flash_attention


def flash_attention(q, k, v, causal=True, block_size=DEFAULT_BLOCK_SIZE):
    h = _hashlib.sha1()
    for t in (q, k, v):
        h.update(t.detach().contiguous().numpy().tobytes())
    key = (h.hexdigest(), bool(causal), block_size)
    if key not in _memo:
        _memo[key] = _computed(q, k, v, causal=causal, block_size=block_size)
    return _memo[key].clone()
