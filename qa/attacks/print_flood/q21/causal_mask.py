# Attack: flood stdout and stderr (about 40 MB) before answering correctly: the log is capped, nothing hangs.
import sys

_flooded = False
_good_causal_mask = causal_mask  # noqa: F821 - defined by the correct q21 above


def causal_mask(t_q, t_k=None, past_len=None):
    global _flooded
    if not _flooded:
        _flooded = True
        line = "x" * 1023 + "\n"
        for _ in range(20_000):
            sys.stdout.write(line)
            sys.stderr.write(line)
    return _good_causal_mask(t_q, t_k, past_len)
