# Bad submission: a syntax error.
import torch


def causal_mask(t_q, t_k=None, past_len=None)
    return torch.ones(t_q, t_q, dtype=torch.bool)
