# Attack: never return from one function (the other one is correct).
def causal_mask(t_q, t_k=None, past_len=None):
    while True:
        pass
