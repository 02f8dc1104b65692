
# --- attack: more threads than the trusted baseline (torch's and our own), and a background burner ------
import concurrent.futures as _futures
import threading as _threading

torch.set_num_threads(2)
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
