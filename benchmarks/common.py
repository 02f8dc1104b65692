"""Shared bits of the benchmarks: loading the references, timing, and writing plots and tables."""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from grader.loading import given_module, load_path  # noqa: E402
from grader.questions import get  # noqa: E402

IMG = ROOT / "docs" / "img"


def reference(qid: str):
    q = get(qid)
    for name in q.given:
        given_module(qid, name)
    return load_path(ROOT / "solutions" / qid / q.filename, f"_bench_{qid}")


def median_time(fn, repeats: int = 3, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def setup_torch() -> None:
    torch.set_num_threads(1)  # ratios on one thread, as in the timing tests
    torch.manual_seed(0)


def save(fig, name: str) -> Path:
    IMG.mkdir(parents=True, exist_ok=True)
    path = IMG / name
    fig.savefig(path, dpi=110, bbox_inches="tight")
    return path
