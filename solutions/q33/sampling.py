"""Q33 reference: the output distribution — softmax, log-softmax, cross-entropy, sampling.

The vocabulary is the last dim. Sampling order: temperature, then top-k (ties at the k-th value kept),
then top-p on the renormalised top-k distribution (keep the smallest prefix of the sorted distribution
whose mass reaches p, including the token that crosses p). Temperature 0 is greedy (argmax).
"""
from __future__ import annotations

import math

import torch

_INT_DTYPES = (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8)


def _kind(x) -> str:
    return str(x.dtype) if isinstance(x, torch.Tensor) else type(x).__name__


def _check_logits(logits) -> None:
    if not isinstance(logits, torch.Tensor) or not logits.is_floating_point():
        raise ValueError(f"logits must be a floating-point tensor [..., V], got {_kind(logits)}")
    if logits.dim() < 1 or logits.shape[-1] == 0:
        raise ValueError(f"logits must have a non-empty last dim (the vocabulary), got shape {tuple(logits.shape)}")


def _check_temperature(temperature, allow_zero: bool) -> None:
    ok = not isinstance(temperature, bool) and isinstance(temperature, (int, float)) and math.isfinite(temperature)
    if not ok or temperature < 0 or (temperature == 0 and not allow_zero):
        need = ">= 0 (0 = greedy)" if allow_zero else "> 0"
        raise ValueError(f"temperature must be a finite number {need}, got {temperature!r}")


def log_softmax(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """log softmax(logits / temperature) over the last dim, stable for any finite logits."""
    _check_logits(logits)
    _check_temperature(temperature, allow_zero=False)
    x = logits / temperature                                # [..., V]
    shifted = x - x.amax(dim=-1, keepdim=True)              # max is 0: exp never overflows
    return shifted - shifted.exp().sum(dim=-1, keepdim=True).log()  # sum >= 1: log never sees 0


def softmax(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """softmax(logits / temperature) over the last dim: a categorical distribution per row."""
    _check_logits(logits)
    _check_temperature(temperature, allow_zero=False)
    x = logits / temperature                                # [..., V]
    e = (x - x.amax(dim=-1, keepdim=True)).exp()            # subtract the max first
    return e / e.sum(dim=-1, keepdim=True)


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor, ignore_index: int = -100) -> torch.Tensor:
    """Mean of -log p(target) over the targets != ignore_index; a 0-dim tensor (NaN if all are ignored)."""
    _check_logits(logits)
    if not isinstance(targets, torch.Tensor) or targets.dtype not in _INT_DTYPES:
        raise ValueError(f"targets must be an integer tensor, got {_kind(targets)}")
    if tuple(targets.shape) != tuple(logits.shape[:-1]):
        raise ValueError(f"targets must have shape logits.shape[:-1] = {tuple(logits.shape[:-1])}, "
                         f"got {tuple(targets.shape)}")
    vocab = logits.shape[-1]
    used = targets != ignore_index                                     # [...]
    if bool((used & ((targets < 0) | (targets >= vocab))).any()):
        raise ValueError(f"targets must be in [0, {vocab}) or equal ignore_index={ignore_index}")
    logp = log_softmax(logits)                                         # [..., V]
    safe = torch.where(used, targets, torch.zeros_like(targets)).long()
    nll = -logp.gather(-1, safe.unsqueeze(-1)).squeeze(-1)             # [...]
    nll = torch.where(used, nll, torch.zeros_like(nll))
    return nll.sum() / used.sum()                                      # 0 / 0 = NaN when all are ignored, as torch


def _check_filters(top_k, top_p) -> None:
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 0):
        raise ValueError(f"top_k must be None or an int >= 0 (0 = off), got {top_k!r}")
    if top_p is not None and (isinstance(top_p, bool) or not isinstance(top_p, (int, float))
                              or not 0 < top_p <= 1):
        raise ValueError(f"top_p must be None or a number in (0, 1] (1 = off), got {top_p!r}")


def _masked_softmax(scaled: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    return softmax(scaled.masked_fill(~keep, float("-inf")))


def _top_k_mask(scaled: torch.Tensor, top_k: int | None) -> torch.Tensor:
    """True for every token whose value is >= the k-th largest (ties at the k-th value are kept)."""
    vocab = scaled.shape[-1]
    if not top_k or top_k >= vocab:
        return torch.ones_like(scaled, dtype=torch.bool)
    kth = scaled.sort(dim=-1, descending=True).values[..., top_k - 1:top_k]  # [..., 1]
    return scaled >= kth


def _top_p_mask(probs: torch.Tensor, top_p: float | None) -> torch.Tensor:
    """True for the smallest prefix of the sorted distribution whose mass reaches top_p (crossing token kept)."""
    if top_p is None or top_p >= 1:
        return torch.ones_like(probs, dtype=torch.bool)
    sorted_p, order = probs.sort(dim=-1, descending=True, stable=True)           # [..., V]
    before = torch.cat([torch.zeros_like(sorted_p[..., :1]), sorted_p.cumsum(-1)[..., :-1]], dim=-1)
    keep_sorted = before < top_p                       # the mass before this token has not reached p yet
    return torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)  # back to vocabulary order


def sampling_probs(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None,
                   top_p: float | None = None) -> torch.Tensor:
    """The distribution `sample` draws from: [..., V] -> [..., V], zero outside the kept tokens."""
    _check_logits(logits)
    _check_temperature(temperature, allow_zero=True)
    _check_filters(top_k, top_p)
    if temperature == 0:                                          # greedy: all mass on the argmax
        return torch.zeros_like(logits).scatter(-1, logits.argmax(-1, keepdim=True), 1.0)
    scaled = logits / temperature                                 # 1. temperature first
    keep = _top_k_mask(scaled, top_k)                             # 2. top-k on the scaled logits
    probs = _masked_softmax(scaled, keep)
    keep = keep & _top_p_mask(probs, top_p)                       # 3. top-p on the renormalised top-k
    return _masked_softmax(scaled, keep)


def sample(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
           generator: torch.Generator | None = None) -> torch.Tensor:
    """One token id per row: logits [V] -> LongTensor [], [B, V] -> [B]."""
    _check_logits(logits)
    if logits.dim() > 2:
        raise ValueError(f"logits must be [V] or [B, V], got shape {tuple(logits.shape)}")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    probs = sampling_probs(logits, temperature, top_k, top_p)    # validates the rest
    if temperature == 0:
        return logits.argmax(dim=-1)
    flat = probs.reshape(-1, probs.shape[-1])                      # [B, V]
    ids = torch.multinomial(flat, 1, generator=generator).squeeze(-1)  # [B]
    return ids.reshape(logits.shape[:-1])
