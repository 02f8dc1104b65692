# Attack: fill every writable place (its directory, HOME, /tmp, /dev/shm) until the writes fail, then answer
# correctly: the limits stop it, and the next question's worker still starts.
import os

_filled = False
_good_causal_mask = causal_mask  # noqa: F821 - defined by the correct q21 above


def _fill():
    chunk = b"\0" * (1 << 20)
    for d in (".", os.environ.get("HOME", "."), "/tmp", "/dev/shm"):
        for i in range(100_000):
            try:
                with open(os.path.join(d, f"fill-{os.getpid()}-{i}"), "wb") as f:
                    for _ in range(16):
                        f.write(chunk)
            except OSError:
                break


def causal_mask(t_q, t_k=None, past_len=None):
    global _filled
    if not _filled:
        _filled = True
        _fill()
    return _good_causal_mask(t_q, t_k, past_len)
