"""Speed comparisons that a submission cannot fake: ratios of CPU time measured in one run, never an absolute time.

``race`` times the submission's call (the fast side) against TRUSTED code with a fixed cost (the slow side),
round after round, interleaved (slow, fast, slow, fast, ...) so a burst of load hits both alike, and compares
each side's best round (noise from other jobs only ever adds time; no round can be cheap without doing the
work, since every round's input is new and its output checked):

- every round gets fresh random inputs (``fresh_generator``: seeded from the OS, so nothing can be
  precomputed or memoised) and the submission's output of every timed round is checked (``check``; a warm-up round
  before them only calls the submission, to warm its fresh worker);
- the slow side runs here, on this thread, torch on one thread: its cost is this thread's CPU time;
- the fast side's cost is the CPU time of the submission's processes, read from outside them (``sub._timing()``,
  ``grader.measuring``): every thread and child counted, so extra threads or processes gain nothing (the
  isolated grader also starts the race in a fresh worker that can start none), and sleeping or wasting work
  anywhere else gains nothing either; whatever the submission's processes spend while the slow side runs is
  charged to the fast side too (a busy background thread cannot slow the baseline for free).

CPU time rather than wall-clock time also keeps the ratios steady when other jobs load the machine.
"""
from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Callable

import torch

from .core import CheckFailure, fail

WORKER_RULE = ("timed and measured calls run alone in a fresh worker that may start no thread and no process: "
               "torch runs on one thread there, as the trusted side does")

# A ratio at least this share of its threshold, yet below it, is measured on more rounds before it fails
# (``race``): a burst of load once measured 1.14x for the reference's skipped tiles (1.6x usually).
NEAR_MISS = 0.7

# Every comparison made in this process, as (what, ratio, threshold): read by the timing-reliability
# tool (benchmarks/timing_reliability.py) to report the measured ratios, not just pass/fail.
RECORDED: list[tuple[str, float, float]] = []


def fresh_generator() -> torch.Generator:
    """A torch generator seeded from the operating system: inputs nobody can know in advance."""
    return torch.Generator().manual_seed(secrets.randbits(63))


@dataclass(frozen=True)
class Ratio:
    fast_s: list[float]
    slow_s: list[float]
    note: str = ""

    @property
    def fast(self) -> float:
        return min(self.fast_s)

    @property
    def slow(self) -> float:
        return min(self.slow_s)

    @property
    def ratio(self) -> float:
        return self.slow / max(self.fast, 1e-12)

    def __str__(self) -> str:
        return (f"{self.ratio:.2f}x faster (the trusted slow way {self.slow * 1e3:.0f} ms, yours {self.fast * 1e3:.0f} "
                f"ms of CPU time, best of {len(self.fast_s)} rounds on fresh inputs)")


class _OneThread:
    """torch on one thread in this process while the trusted side is timed."""

    def __enter__(self):
        self.n = torch.get_num_threads()
        torch.set_num_threads(1)

    def __exit__(self, *exc):
        torch.set_num_threads(self.n)


def race(sub, fast: Callable, slow: Callable, make_input: Callable[[], tuple], check: Callable,
         *, warmup: int = 1, repeats: int = 5, min_ratio: float | None = None) -> Ratio:
    """Rounds of ``slow(*inp)`` (trusted, here) against ``fast(*inp)`` (the submission's), fresh ``inp`` each.

    ``warmup`` rounds first call only ``fast`` (its worker's first call); then each of ``repeats`` rounds times
    both and ``check(inp, fast_out, slow_out)`` fails on a wrong output (it is not timed). ``sub`` gives the meter
    (``sub._timing()``); ``fast`` calls the submission through it.

    With ``min_ratio``, a near miss after ``repeats`` rounds (a ratio below ``min_ratio`` but at least
    ``NEAR_MISS`` of it) gets more rounds, one at a time, up to 3 x ``repeats``, every
    round pooled: a burst of load on the machine that hit the first rounds cannot fail a fast submission, and a
    slow one gains nothing, since each side's best round only gets closer to its real cost with more rounds
    (noise only ever adds time). A clear miss is decided at once.
    """
    fast_s: list[float] = []
    slow_s: list[float] = []
    limit = repeats if min_ratio is None else 3 * repeats
    with sub._timing() as meter, _OneThread():
        i = 0
        while len(fast_s) < repeats or (len(fast_s) < limit and
                                        NEAR_MISS * min_ratio <= Ratio(fast_s, slow_s).ratio < min_ratio):
            inp = make_input()
            timed = i >= warmup  # a warm-up round only warms the submission's worker: no slow side, no check
            i += 1
            a = meter.snapshot()
            w0, c0 = time.perf_counter(), time.thread_time()
            slow_out = slow(*inp) if timed else None
            c1, w1 = time.thread_time(), time.perf_counter()
            b = meter.snapshot()
            try:
                fast_out = fast(*inp)
            except (NotImplementedError, CheckFailure):
                raise
            except Exception as e:  # noqa: BLE001 - say what the timed call's worker allows
                fail(f"{(str(e).strip() or type(e).__name__)}\n  ({WORKER_RULE})")
            w2 = time.perf_counter()
            c = meter.snapshot()
            if timed:
                check(inp, fast_out, slow_out)
                slow_s.append(c1 - c0)
                fast_s.append(meter.cost(b, c, w2 - w1, trusted=False) + meter.cost(a, b, w1 - w0, trusted=True))
    return Ratio(fast_s=fast_s, slow_s=slow_s, note=meter.note)


def compare_speed(sub, fast: Callable, slow: Callable, make_input: Callable[[], tuple], check: Callable, *,
                  min_ratio: float, what: str, cause: str, warmup: int = 1, repeats: int = 5) -> Ratio:
    """Fail unless the submission's ``fast`` costs at most 1/``min_ratio`` of the trusted ``slow`` (best rounds;
    a near miss after ``repeats`` rounds is measured on more rounds first, up to 3 x ``repeats``: ``race``)."""
    r = race(sub, fast, slow, make_input, check, warmup=warmup, repeats=repeats, min_ratio=min_ratio)
    RECORDED.append((what, r.ratio, min_ratio))
    if r.ratio < min_ratio:
        fail(f"{what} is only {r}; it must be at least {min_ratio:g}x faster", hint=f"usually {cause}")
    return r
