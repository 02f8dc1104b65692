_generate = generate_greedy


def generate_greedy(model, prompt, n_new, use_cache=True):
    _busy.set()
    try:
        return _generate(model, prompt, n_new, use_cache=use_cache)
    finally:
        _busy.clear()
