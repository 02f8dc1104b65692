"""Q33: the output distribution. Read README.md first; run `pytest exercises/q33` to self-check.

The vocabulary is the LAST dim: logits [..., V]. The one fact: softmax(x) = softmax(x - max(x)), so
subtract the row's max before exp — exp never overflows and log-softmax never takes log(0).
softmax, log_softmax and cross_entropy must not call torch's softmax / log_softmax / logsumexp /
cross_entropy / nll_loss (see forbidden.toml; the whole file is checked).
"""
from __future__ import annotations

import torch


def softmax(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """softmax(logits / temperature) over the last dim: [..., V] -> [..., V], same dtype.

    Each row is a categorical distribution (non-negative, sums to 1). temperature must be a finite
    number > 0 (ValueError otherwise). Stable for any finite logits (think +-1e4); a -inf logit gets 0.
    """
    raise NotImplementedError


def log_softmax(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """log(softmax(logits / temperature)) over the last dim, computed stably: [..., V] -> [..., V].

    (x - max) - log(sum(exp(x - max))) — never log(softmax(x)), which gives -inf for very unlikely tokens.
    """
    raise NotImplementedError


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor, ignore_index: int = -100) -> torch.Tensor:
    """Mean negative log-likelihood: logits [..., V], targets [...] (integer ids) -> 0-dim tensor.

    int64 targets must work; another integer dtype either gives the same loss or is a ValueError naming targets.

    The mean is over the targets != ignore_index only; if every target is ignored the result is NaN
    (0/0), as with torch. A target outside [0, V) that is not ignore_index, or targets whose shape is
    not logits.shape[:-1], is a ValueError.
    """
    raise NotImplementedError


def sampling_probs(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None,
                   top_p: float | None = None) -> torch.Tensor:
    """The distribution `sample` draws from: logits [..., V] -> probabilities [..., V], same dtype.

    In this order:
    1. temperature: logits / temperature. temperature 0 means greedy: all mass on the argmax.
    2. top-k: keep every token whose scaled logit is >= the k-th largest (ties at the k-th value are
       all kept). top_k None or 0 = off; top_k >= V keeps everything.
    3. top-p on the renormalised top-k distribution: sort descending and keep the smallest prefix whose
       mass reaches top_p, INCLUDING the token that crosses top_p. top_p None or 1.0 = off.
    Renormalise over the kept tokens; every other token gets probability 0.
    ValueError: temperature < 0, top_k not an int >= 0, top_p outside (0, 1].
    """
    raise NotImplementedError


def sample(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
           generator: torch.Generator | None = None) -> torch.Tensor:
    """Draw one token id per row from sampling_probs(logits, temperature, top_k, top_p).

    logits [V] -> LongTensor [] ; logits [B, V] -> LongTensor [B] (other ranks: ValueError).
    Every random number comes from `generator` (same seed -> same tokens). Rows are independent draws.
    temperature 0 returns the argmax.
    """
    raise NotImplementedError
