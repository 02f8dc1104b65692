# Attack: leave work behind after answering correctly: a daemon thread and a double-forked process
# (a new session, then `sleep` named by a marker). Nothing may survive the grading run.
import os
import threading
import time

_started = False


def _spin():
    while True:
        time.sleep(0.01)


def _leave_something_behind():
    global _started
    _started = True
    threading.Thread(target=_spin, daemon=True).start()
    pid = os.fork()
    if pid == 0:
        os.setsid()
        if os.fork() == 0:
            try:
                os.execv("/bin/sleep", ["__MARKER__", "600"])
            except OSError:  # exec refused (the worker's seccomp filter): stay behind as this process
                time.sleep(600)
            os._exit(0)
        os._exit(0)
    os.waitpid(pid, 0)


_good_causal_mask = causal_mask  # noqa: F821 - defined by the correct q21 above


def causal_mask(t_q, t_k=None, past_len=None):
    if not _started:
        _leave_something_behind()
    return _good_causal_mask(t_q, t_k, past_len)
