# Attack: fork 50 processes that outlive the call (each becomes `sleep` named by a marker), then answer
# correctly. Nothing may survive the grading run.
import os

_forked = False


def _fork_many(n=50):
    global _forked
    _forked = True
    for _ in range(n):
        try:
            pid = os.fork()
        except OSError:
            break  # the process limit
        if pid == 0:
            try:
                os.execv("/bin/sleep", ["__MARKER__", "600"])
            finally:
                os._exit(0)


_good_causal_mask = causal_mask  # noqa: F821 - defined by the correct q21 above


def causal_mask(t_q, t_k=None, past_len=None):
    if not _forked:
        _fork_many()
    return _good_causal_mask(t_q, t_k, past_len)
