# Bad submission: causal_mask raises an exception of its own.
class Boom(Exception):
    pass


def causal_mask(t_q, t_k=None, past_len=None):
    raise Boom("the mask exploded")
