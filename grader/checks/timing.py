"""Speed comparisons that a submission cannot fake: ratios of CPU time measured in one run, never an absolute time.

``race`` times the submission's call (the fast side) against TRUSTED code with a fixed cost (the slow side),
round after round, interleaved (slow, fast, slow, fast, ...) so a burst of load hits both alike, and compares
each side's best round (noise from other jobs only ever adds time; no round can be cheap without doing the
work, since every round's input is new and its output checked):

- every round gets fresh random inputs (``fresh_generator``: seeded from the OS, so nothing can be
  precomputed or memoised) and the submission's output of every round is checked (``check``);
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
         *, warmup: int = 1, repeats: int = 5) -> Ratio:
    """Rounds of ``slow(*inp)`` (trusted, here) against ``fast(*inp)`` (the submission's), fresh ``inp`` each.

    ``check(inp, fast_out, slow_out)`` fails on a wrong output (it is not timed). ``sub`` gives the meter
    (``sub._timing()``); ``fast`` calls the submission through it.
    """
    fast_s: list[float] = []
    slow_s: list[float] = []
    with sub._timing() as meter, _OneThread():
        for i in range(warmup + repeats):
            inp = make_input()
            a = meter.snapshot()
            w0, c0 = time.perf_counter(), time.thread_time()
            slow_out = slow(*inp)
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
            check(inp, fast_out, slow_out)
            if i >= warmup:
                slow_s.append(c1 - c0)
                fast_s.append(meter.cost(b, c, w2 - w1, trusted=False) + meter.cost(a, b, w1 - w0, trusted=True))
    return Ratio(fast_s=fast_s, slow_s=slow_s, note=meter.note)


def compare_speed(sub, fast: Callable, slow: Callable, make_input: Callable[[], tuple], check: Callable, *,
                  min_ratio: float, what: str, cause: str, warmup: int = 1, repeats: int = 5) -> Ratio:
    """Fail unless the submission's ``fast`` costs at most 1/``min_ratio`` of the trusted ``slow`` (best rounds)."""
    r = race(sub, fast, slow, make_input, check, warmup=warmup, repeats=repeats)
    RECORDED.append((what, r.ratio, min_ratio))
    if r.ratio < min_ratio:
        fail(f"{what} is only {r}; it must be at least {min_ratio:g}x faster", hint=f"usually {cause}")
    return r
