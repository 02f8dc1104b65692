
# --- attack: half the heads in a forked child process (its CPU time is not the worker's own) -----------
import os as _os

_computed = flash_attention


def flash_attention(q, k, v, causal=True, block_size=DEFAULT_BLOCK_SIZE):
    if q.dim() != 4 or q.shape[1] < 2 or q.numel() < 100_000:
        return _computed(q, k, v, causal=causal, block_size=block_size)
    h = q.shape[1] // 2
    try:
        r, w = _os.pipe()
        pid = _os.fork()
    except OSError:  # no processes allowed: carry on alone
        return _computed(q, k, v, causal=causal, block_size=block_size)
    if pid == 0:
        out = _computed(q[:, h:], k[:, h:], v[:, h:], causal, block_size).contiguous()
        data = out.numpy().tobytes()
        while data:
            data = data[_os.write(w, data):]
        _os._exit(0)
    _os.close(w)
    first = _computed(q[:, :h], k[:, :h], v[:, :h], causal, block_size)
    shape = (q.shape[0], q.shape[1] - h, q.shape[2], v.shape[-1])
    buf, need = bytearray(), first.element_size() * shape[0] * shape[1] * shape[2] * shape[3]
    while len(buf) < need:
        chunk = _os.read(r, need - len(buf))
        if not chunk:
            break
        buf += chunk
    _os.close(r)
    _os.waitpid(pid, 0)
    second = torch.frombuffer(buf, dtype=first.dtype).reshape(shape).clone()
    return torch.cat([first, second], dim=1)
