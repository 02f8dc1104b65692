"""Q36 reference: online softmax and flash attention (tiled, never building the Tq x Tk matrix)."""
from __future__ import annotations

import math

import torch

DEFAULT_BLOCK_SIZE = 128


def _kind(t) -> str:
    return f"{t.dtype} tensor of shape {tuple(t.shape)}" if isinstance(t, torch.Tensor) else type(t).__name__


def _check_block_size(block_size) -> None:
    if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 1:
        raise ValueError(f"block_size must be a positive int, got {block_size!r}")


def online_softmax(x: torch.Tensor, block_size: int) -> torch.Tensor:
    """softmax over the last dim: one pass over blocks for the statistics (m, l), then normalise."""
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise ValueError(f"x must be a floating-point tensor, got {_kind(x)}")
    if x.dim() < 1:
        raise ValueError("x must have at least one dim (the softmax runs over the last one)")
    _check_block_size(block_size)
    n = x.shape[-1]
    m = x.new_full((*x.shape[:-1], 1), -math.inf)  # running max      [..., 1]
    l = x.new_zeros((*x.shape[:-1], 1))            # running sum of exp(x - m)
    for start in range(0, n, block_size):
        xb = x[..., start:start + block_size]                        # [..., b]
        m_new = torch.maximum(m, xb.amax(dim=-1, keepdim=True))
        shift = m_new.masked_fill(m_new == -math.inf, 0.0)           # a block of only -inf: nothing to add
        l = l * torch.exp(m - shift) + torch.exp(xb - shift).sum(dim=-1, keepdim=True)
        m = m_new
    return torch.exp(x - m) / l


def flash_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool = True,
                    block_size: int = DEFAULT_BLOCK_SIZE) -> torch.Tensor:
    """softmax(q kᵀ / sqrt(D) [+ causal mask]) v, one block_size x block_size tile of scores at a time.

    q [..., Tq, D], k [..., Tk, D], v [..., Tk, Dv] -> [..., Tq, Dv]. With causal=True query i sits at key
    position Tk - Tq + i (queries aligned to the end of the keys) and key tiles above the diagonal are skipped.
    """
    for name, t in (("q", q), ("k", k), ("v", v)):
        if not isinstance(t, torch.Tensor) or not t.is_floating_point() or t.dim() < 2:
            raise ValueError(f"{name} must be a floating-point tensor [..., T, D], got {_kind(t)}")
    if k.dtype != q.dtype or v.dtype != q.dtype:
        raise ValueError(f"q, k and v must share a dtype, got {q.dtype}, {k.dtype}, {v.dtype}")
    if k.shape[:-2] != q.shape[:-2] or v.shape[:-2] != q.shape[:-2]:
        raise ValueError(f"q, k and v must have the same leading dims, got q {tuple(q.shape)}, "
                         f"k {tuple(k.shape)}, v {tuple(v.shape)}")
    if k.shape[-1] != q.shape[-1]:
        raise ValueError(f"k's head dim D must equal q's: q {tuple(q.shape)}, k {tuple(k.shape)}")
    if v.shape[-2] != k.shape[-2]:
        raise ValueError(f"v must have as many positions as k: k {tuple(k.shape)}, v {tuple(v.shape)}")
    _check_block_size(block_size)
    *lead, t_q, d = q.shape
    t_k = k.shape[-2]
    if t_k == 0:
        raise ValueError("k must hold at least one key (Tk >= 1)")
    if causal and t_q > t_k:
        raise ValueError(f"causal attention needs Tk >= Tq (queries are the last Tq of the Tk key positions), "
                         f"got Tq={t_q}, Tk={t_k}")
    scale = 1.0 / math.sqrt(d)
    offset = t_k - t_q                       # causal: query i sits at key position offset + i
    out = q.new_empty((*lead, t_q, v.shape[-1]))
    kt = k.transpose(-2, -1)                 # [..., D, Tk] (a view)
    for qs in range(0, t_q, block_size):
        qe = min(qs + block_size, t_q)
        qb = q[..., qs:qe, :] * scale                               # [..., bq, D]
        m = q.new_full((*lead, qe - qs, 1), -math.inf)              # running max per query row
        l = q.new_zeros((*lead, qe - qs, 1))                        # running sum of exp(s - m)
        acc = q.new_zeros((*lead, qe - qs, v.shape[-1]))            # running sum of exp(s - m) v
        k_stop = min(t_k, offset + qe) if causal else t_k          # later keys are above the diagonal: skipped
        for ks in range(0, k_stop, block_size):
            ke = min(ks + block_size, k_stop)
            s = qb @ kt[..., :, ks:ke]                              # [..., bq, bk] one tile of scores
            if causal and ke - 1 > offset + qs:                     # the tile crosses the diagonal
                allowed = torch.arange(ks, ke) <= (offset + torch.arange(qs, qe)).unsqueeze(-1)
                s = s.masked_fill(~allowed, -math.inf)
            m_new = torch.maximum(m, s.amax(dim=-1, keepdim=True))  # finite: key 0 is always allowed
            p = torch.exp(s - m_new)                                # [..., bq, bk]
            alpha = torch.exp(m - m_new)                            # rescales what was summed under the old max
            l = l * alpha + p.sum(dim=-1, keepdim=True)
            acc = acc * alpha + p @ v[..., ks:ke, :]
            m = m_new
        out[..., qs:qe, :] = acc / l
    return out
