# Attack: results the grader must refuse to receive: a 2 GiB tensor and a list nested 10000 deep.
import torch


def causal_mask(t_q, t_k=None, past_len=None):
    return torch.empty(2 << 30, dtype=torch.bool)


def masked_scores(scores, mask):
    out = []
    for _ in range(10_000):
        out = [out]
    return out
