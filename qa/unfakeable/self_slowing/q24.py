
# --- attack: waste work only on the uncached path (the slow side of a self-comparison) ---------------
import time as _time

_generate = generate_greedy


def generate_greedy(model, prompt, n_new, use_cache=True):
    out = _generate(model, prompt, n_new, use_cache=use_cache)
    if not use_cache and n_new > 50:
        for _ in range(3):
            _generate(model, prompt, n_new, use_cache=False)
        _time.sleep(0.3)
    return out
