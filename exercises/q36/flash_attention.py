"""Q36: online softmax and flash attention. Read README.md first; run `pytest exercises/q36` to self-check.

The one fact: softmax can be computed block by block with a running max m and a running sum l;
when the max grows from m_old to m_new, everything summed so far is rescaled by exp(m_old - m_new).
Flash attention applies this to one tile of scores at a time, so the T x T matrix never exists.
Do not call torch's softmax / logsumexp / scaled_dot_product_attention here (see forbidden.toml).
"""
from __future__ import annotations

import math

import torch

DEFAULT_BLOCK_SIZE = 128  # tiles of 128 queries x 128 keys; a good size for a CPU's caches


def online_softmax(x: torch.Tensor, block_size: int) -> torch.Tensor:
    """softmax(x) over the last dim, reading x in blocks of block_size along that dim.

    x [..., N] float32/float64 -> [..., N], same dtype; any leading dims; the last block may be shorter.
    One pass over the blocks keeps, per row, the running max m (starts at -inf) and the running sum
    l = sum of exp(x_j - m) over the blocks seen so far:
        m_new = max(m, max(block));  l = l * exp(m - m_new) + sum(exp(block - m_new));  m = m_new
    then a final pass returns exp(x - m) / l. Stable for huge and tiny values (e.g. +-1e4); entries may
    be -inf (masked), even a whole block of them, as long as the row has a finite value.
    block_size must be a positive int (ValueError otherwise). Do not modify x.
    """
    raise NotImplementedError


def flash_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool = True,
                    block_size: int = DEFAULT_BLOCK_SIZE) -> torch.Tensor:
    """softmax(q @ k^T / sqrt(D) [causal mask]) @ v, computed tile by tile.

    q [..., Tq, D], k [..., Tk, D], v [..., Tk, D] -> [..., Tq, D] (usually [B, H, T, D]; any leading dims,
    the same for q, k and v); float32/float64, output in the input's dtype.
    - Tile the queries and the keys in blocks of block_size; keep per query row a running max m, a running
      sum l and an accumulator acc [bq, D]; after each key tile rescale l and acc by exp(m_old - m_new).
      Never build the Tq x Tk score matrix.
    - causal=True: query i sits at key position Tk - Tq + i (queries aligned to the END of the keys, as when
      decoding with a cache) and may attend keys j <= Tk - Tq + i. Key tiles wholly above the diagonal are
      skipped, not computed and masked. causal=True with Tq > Tk is a ValueError.
    - ValueError (naming the argument) when D or T do not agree between q, k, v, or block_size is not a
      positive int. Do not modify the inputs.
    """
    raise NotImplementedError
