"""Q36 checks, shared by the self-check and the hidden suite: online softmax, flash attention, speed, memory.

``naive_attention`` is the textbook attention (the whole Tq x Tk matrix, masked, softmaxed): the oracle for
correctness and the slow baseline the timing checks race against. It always runs on the trusted side.
"""
from __future__ import annotations

import math
from typing import Callable

import torch

from .core import assert_close, assert_shape, fail
from .timing import WORKER_RULE, Ratio, compare_speed, fresh_generator

# The sizes of the speed and memory checks (float32, one thread). See tests/q36 for the measurements.
LONG = dict(batch=1, heads=2, t=4096, d=64)        # speed: q, k, v are 2 MiB each; the T x T matrix 128 MiB
MEMORY = dict(batch=1, heads=4, t=4096, d=32)      # memory: the B·H·T·T float32 scores take 256 MiB
TIMED_BLOCK = 128                                  # the block_size the timed calls pass explicitly
# Thresholds (measurements in tests/q36/test_flash_attention.py). The full-matrix approach is caught three ways
# (speed, skipped tiles, memory), so the speed threshold leaves room for slower but genuinely tiled code.
MIN_RATIO_NAIVE = 2.0      # naive / causal flash
MIN_RATIO_SKIP = 1.15      # flash causal=False / flash causal=True (reference 1.3 at worst in 20 quiet runs; a tiled
                           # version computing every tile and masking 0.8 at best)
MEMORY_FRACTION = 1 / 8    # peak resident growth / the B·H·T·T float32 matrix


def tolerance(dtype: torch.dtype) -> dict:
    """float64 to 1e-10 (tiling only reorders sums), float32 to 1e-5."""
    t = 1e-10 if dtype == torch.float64 else 1e-5
    return dict(rtol=t, atol=t)


def naive_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool = True) -> torch.Tensor:
    """softmax(q kᵀ / sqrt(D), masked) v with the full [..., Tq, Tk] matrix; causal queries end-aligned."""
    t_q, t_k = q.shape[-2], k.shape[-2]
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])          # [..., Tq, Tk]
    if causal:
        allowed = torch.ones(t_q, t_k, dtype=torch.bool).tril(t_k - t_q)  # query i at position Tk - Tq + i
        scores = scores.masked_fill(~allowed, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v


def random_qkv(lead: tuple, t_q: int, t_k: int, d: int, *, seed: int, dtype=torch.float64, scale: float = 1.0):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(*lead, t_q, d, generator=g, dtype=dtype) * scale
    k = torch.randn(*lead, t_k, d, generator=g, dtype=dtype) * scale
    v = torch.randn(*lead, t_k, d, generator=g, dtype=dtype)
    return q, k, v


def describe(q, k, causal, block_size) -> str:
    return (f"q {tuple(q.shape)}, k/v {tuple(k.shape)}, {q.dtype}, causal={causal}, block_size={block_size}")


def online_softmax_matches_torch(online_softmax: Callable, x: torch.Tensor, block_size: int, *,
                                 hint: str | None = None) -> None:
    """online_softmax(x, block_size) equals torch.softmax(x, -1) and leaves x alone."""
    before = x.clone()
    got = online_softmax(x, block_size)
    if not torch.equal(before, x):
        fail("online_softmax changed its input x in place; functions must not modify their inputs")
    assert_close(got, torch.softmax(x, dim=-1), f"online_softmax(x {tuple(x.shape)} {x.dtype}, block_size="
                 f"{block_size})", **tolerance(x.dtype), hint=hint or "after each block: m_new = max(m, max(block)); "
                 "l = l·exp(m − m_new) + Σ exp(block − m_new); at the end exp(x − m) / l")


def flash_matches_naive(flash_attention: Callable, q, k, v, *, causal: bool, block_size: int,
                        hint: str | None = None) -> None:
    """flash_attention equals naive_attention (the full-matrix oracle) for these inputs."""
    got = flash_attention(q, k, v, causal=causal, block_size=block_size)
    assert_close(got, naive_attention(q, k, v, causal), f"flash_attention({describe(q, k, causal, block_size)})",
                 **tolerance(q.dtype),
                 hint=hint or ("causal query i sits at key position Tk − Tq + i; keep m, l and the accumulator "
                               "per query row and rescale l and the accumulator by exp(m_old − m_new)"))


def _long_qkv(batch: int, heads: int, t: int, d: int, gen: torch.Generator | None = None):
    """Fresh random q, k, v [batch, heads, t, d] float32 (``gen``: seeded from the OS unless given)."""
    gen = gen or fresh_generator()
    return tuple(torch.randn(batch, heads, t, d, generator=gen) for _ in range(3))


def sampled_rows_match(out, q, k, v, *, causal: bool, what: str, rows: int = 48, gen=None) -> None:
    """``out`` has the right shape, and ``rows`` random query rows of every head (the first and last always)
    equal the textbook attention of those rows (cheap: rows x Tk scores, never the whole matrix)."""
    assert_shape(out, q.shape[:-1] + v.shape[-1:], what)
    t_q, t_k = q.shape[-2], k.shape[-2]
    gen = gen or fresh_generator()
    idx = torch.cat([torch.tensor([0, t_q - 1]), torch.randint(0, t_q, (rows,), generator=gen)]).unique()
    s = q[..., idx, :] @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])       # [..., rows, Tk]
    if causal:
        allowed = torch.arange(t_k) <= (t_k - t_q + idx).unsqueeze(-1)
        s = s.masked_fill(~allowed, float("-inf"))
    expected = torch.softmax(s, dim=-1) @ v
    assert_close(out[..., idx, :], expected, f"{what}, query rows {idx[:6].tolist()}...", rtol=1e-4, atol=1e-4)


def _close_to_naive(inp, out, naive_out) -> None:
    q = inp[0]
    assert_close(out, naive_out, f"flash_attention on the timing input {tuple(q.shape)} (fresh random values)",
                 rtol=1e-4, atol=1e-4)


def faster_than_naive(sub, *, min_ratio: float = MIN_RATIO_NAIVE, repeats: int = 3) -> Ratio:
    """Causal flash attention (block_size TIMED_BLOCK) beats the trusted full-matrix attention by ``min_ratio``.

    Fresh q, k, v every round; every output compared with the naive attention of that round."""
    shape = (LONG["batch"], LONG["heads"], LONG["t"], LONG["d"])
    return compare_speed(sub, lambda q, k, v: sub.flash_attention(q, k, v, causal=True, block_size=TIMED_BLOCK),
                         lambda q, k, v: naive_attention(q, k, v, True), lambda: _long_qkv(**LONG),
                         lambda inp, out, naive_out: _close_to_naive(inp, out, naive_out),
                         min_ratio=min_ratio, repeats=repeats,
                         what=f"causal flash_attention against naive attention at B·H·T·D = {shape}",
                         cause="the full T x T score matrix is built (then masked), or tiles are tiny or "
                               "recomputed; tile queries and keys and skip the tiles above the diagonal")


def causal_skips_tiles(sub, noncausal: Callable, *, min_ratio: float = MIN_RATIO_SKIP, repeats: int = 3,
                       against: str = "the reference's flash_attention with causal=False") -> Ratio:
    """The submission's causal flash against ``noncausal(q, k, v)``, a flash attention computing every tile
    (in the hidden suite the reference's, run by the grader): a causal call needs 528 of the 1024 tiles,
    so it must cost at most 1/``min_ratio`` of it. Fresh inputs every round; sampled rows checked."""
    shape = (LONG["batch"], LONG["heads"], LONG["t"], LONG["d"])

    def check(inp, out, _):
        sampled_rows_match(out, *inp, causal=True, what=f"flash_attention(causal=True) on the timing input {shape}")

    return compare_speed(sub, lambda q, k, v: sub.flash_attention(q, k, v, causal=True, block_size=TIMED_BLOCK),
                         noncausal, lambda: _long_qkv(**LONG), check, min_ratio=min_ratio, repeats=repeats,
                         what=f"causal flash_attention at {shape} against {against}",
                         cause="every key tile is computed and then masked; with causal=True a query tile "
                               "needs only the key tiles up to the diagonal (about half of them)")


def full_matrix_bytes(batch: int, heads: int, t: int, d: int, itemsize: int = 4) -> int:
    return batch * heads * t * t * itemsize


def memory_far_below_full_matrix(sub, *, fraction: float = MEMORY_FRACTION) -> dict | None:
    """One causal call on fresh q/k/v of MEMORY's shape adds at most ``fraction`` of the B·H·T·T float32 matrix.

    ``sub._measure`` runs the call (isolated: alone in a fresh worker whose address space the grader reads from
    outside it, with a hard limit) and says what it added beyond its inputs and output. The output's VALUES are
    checked too (sampled rows). Returns the stats, or None when this machine cannot measure (the caller skips).
    """
    full = full_matrix_bytes(**MEMORY)
    limit = int(fraction * full)
    q, k, v = _long_qkv(**MEMORY)
    what = f"flash_attention on q/k/v {tuple(q.shape)} float32"
    try:
        out, stats = sub._measure("flash_attention", q, k, v, causal=True, _limit_bytes=limit)
    except NotImplementedError:
        raise
    except Exception as e:  # noqa: BLE001 - e.g. an allocation refused under the limit
        first = (str(e).splitlines() or [type(e).__name__])[0][:300]
        fail(f"{what} failed when it may add about {limit / 2**20:.0f} MiB ({fraction:g} of the {full / 2**20:.0f} "
             f"MiB B·H·T·T matrix) beyond its inputs and output: {first}\n  ({WORKER_RULE})",
             hint="never materialise the T x T scores (nor a T x T mask): keep one block_size x block_size "
                  "tile of scores at a time")
    sampled_rows_match(out, q, k, v, causal=True, what=f"{what} (the memory test)")
    grown = stats.get("peak_bytes")
    if grown is None:
        return None
    if grown > limit:
        fail(f"{what} added {grown / 2**20:.0f} MiB at its peak beyond its inputs and output ({stats.get('how')}); "
             f"the full B·H·T·T score matrix is {full / 2**20:.0f} MiB and the limit is {limit / 2**20:.0f} MiB "
             f"({fraction:g} of it)",
             hint="never materialise the T x T scores (nor a T x T mask): keep one block_size x block_size "
                  "tile of scores at a time")
    return stats


__all__ = ["naive_attention", "random_qkv", "online_softmax_matches_torch", "flash_matches_naive",
           "faster_than_naive", "causal_skips_tiles", "memory_far_below_full_matrix", "sampled_rows_match", "LONG",
           "MEMORY", "TIMED_BLOCK", "MIN_RATIO_NAIVE", "MIN_RATIO_SKIP", "MEMORY_FRACTION", "tolerance"]
