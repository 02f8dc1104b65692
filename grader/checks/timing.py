"""Speed comparisons as ratios measured in one process: never an absolute time.

``compare_speed`` runs the two calls interleaved (slow, fast, slow, fast, ...) after warm-up, so that
a burst of load on a noisy machine hits both sides alike, and compares medians.
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Callable

from .core import fail

# Every comparison made in this process, as (what, ratio, threshold): read by the timing-reliability
# tool (benchmarks/timing_reliability.py) to report the measured ratios, not just pass/fail.
RECORDED: list[tuple[str, float, float]] = []


@dataclass(frozen=True)
class Ratio:
    fast_s: list[float]
    slow_s: list[float]

    @property
    def fast(self) -> float:
        return statistics.median(self.fast_s)

    @property
    def slow(self) -> float:
        return statistics.median(self.slow_s)

    @property
    def ratio(self) -> float:
        return self.slow / max(self.fast, 1e-12)

    def __str__(self) -> str:
        return (f"{self.ratio:.1f}x faster (the slow way {self.slow * 1e3:.0f} ms, the fast way "
                f"{self.fast * 1e3:.0f} ms, medians of {len(self.fast_s)})")


def measure(fast: Callable[[], object], slow: Callable[[], object], *, warmup: int = 1,
            repeats: int = 5) -> Ratio:
    for _ in range(warmup):
        slow()
        fast()
    fast_s: list[float] = []
    slow_s: list[float] = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        slow()
        t1 = time.perf_counter()
        fast()
        t2 = time.perf_counter()
        slow_s.append(t1 - t0)
        fast_s.append(t2 - t1)
    return Ratio(fast_s=fast_s, slow_s=slow_s)


def compare_speed(fast: Callable[[], object], slow: Callable[[], object], *, min_ratio: float, what: str,
                  cause: str, warmup: int = 1, repeats: int = 5) -> Ratio:
    """Fail unless ``fast`` runs at least ``min_ratio`` times faster than ``slow`` (medians)."""
    r = measure(fast, slow, warmup=warmup, repeats=repeats)
    RECORDED.append((what, r.ratio, min_ratio))
    if r.ratio < min_ratio:
        fail(f"{what} is only {r}; it must be at least {min_ratio:g}x faster", hint=f"usually {cause}")
    return r
