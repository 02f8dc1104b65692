# Attack: wrong answers, relying on the files shipped beside this one (conftest.py, sitecustomize.py,
# torch.py, ...) to force the tests to pass.
import torch


def causal_mask(t_q, t_k=None, past_len=None):
    t_k = t_q if t_k is None else t_k
    return torch.ones(t_q + 1, t_k, dtype=torch.bool)  # wrong everywhere (even the shape)


def masked_scores(scores, mask):
    return scores + 1  # wrong everywhere
