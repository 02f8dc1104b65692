# Bad submission: causal_mask is missing (masked_scores is correct).
import torch


def masked_scores(scores, mask):
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
        raise ValueError("mask must be a bool tensor")
    return scores.masked_fill(~mask, float("-inf"))
