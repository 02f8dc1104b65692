# Bad submission: one column too many (arguments are still checked correctly).
_good_causal_mask = causal_mask  # noqa: F821 - defined by the correct q21 above


def causal_mask(t_q, t_k=None, past_len=None):
    m = _good_causal_mask(t_q, t_k, past_len)
    return torch.cat([m, m[:, :1]], dim=1)  # noqa: F821
