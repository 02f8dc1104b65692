
# --- attack: memoise by the prompt (the timed repeats used to send the same prompt) ------------------
_memo: dict = {}
_generate = generate_greedy


def generate_greedy(model, prompt, n_new, use_cache=True):
    key = (id(model), tuple(prompt.shape), tuple(prompt.flatten().tolist()), n_new)
    if key not in _memo:
        _memo[key] = _generate(model, prompt, n_new, use_cache=use_cache)
    return _memo[key].clone()
