"""What the isolated worker costs against running the submission in-process: the sandbox's boot, a fresh
worker, a small call, an 8 MB tensor each way, and a whole grade of the references.

    python benchmarks/isolation_overhead.py            # prints a Markdown table (about a minute and a half)
    python benchmarks/isolation_overhead.py --no-grade # without the two whole grades
"""
from __future__ import annotations

import argparse
import time

import torch

from common import ROOT, median_time, reference, setup_torch

from grader.isolation import WorkerProvider  # noqa: E402


def median_ms(fn, n: int) -> float:
    return median_time(fn, repeats=n) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--no-grade", action="store_true", help="leave out the two whole grades of the references")
    args = ap.parse_args()
    setup_torch()
    local = reference("q21")
    small = (torch.zeros(4, 4), torch.ones(4, 4, dtype=torch.bool))
    big = (torch.randn(2048, 1024), torch.ones(2048, 1024, dtype=torch.bool))  # 8 MiB of float32 each way
    rows = []

    t = time.perf_counter()
    provider = WorkerProvider(ROOT / "solutions", max_alive=1)
    sub = provider.get("q21")
    sub.masked_scores(*small)
    rows.append(("the sandbox's boot and the first call (bubblewrap, the zygote imports torch)",
                 (time.perf_counter() - t) * 1e3, None))
    session = provider._sessions["q21"]

    def fresh():
        session.stop()
        session.ensure()
    rows.append(("a worker stopped and a fresh one forked (namespaces, mounts, seccomp, rlimits)", median_ms(fresh, 20),
                 None))
    sub.masked_scores(*small)
    rows.append(("a small call (two 4x4 tensors in, one out)", median_ms(lambda: sub.masked_scores(*small), 300),
                 median_ms(lambda: local.masked_scores(*small), 300)))
    rows.append(("an 8 MiB tensor each way (masked_scores of a 2048x1024 float32)",
                 median_ms(lambda: sub.masked_scores(*big), 20), median_ms(lambda: local.masked_scores(*big), 20)))
    provider.close()

    if not args.no_grade:
        from grader.grading import grade
        seconds = {}
        for isolate in (True, False):
            t = time.perf_counter()
            report = grade(ROOT / "solutions", isolate=isolate)
            seconds[isolate] = (time.perf_counter() - t) * 1e3
        rows.append((f"a whole grade of the references (score {report['score']:g}/{report['max_score']:g})",
                     seconds[True], seconds[False]))

    print("| what | isolated | in-process |")
    print("|---|---|---|")
    for what, iso, inproc in rows:
        fmt = (lambda ms: f"{ms / 1e3:.1f} s" if ms >= 1000 else f"{ms:.2f} ms" if ms < 10 else f"{ms:.1f} ms")
        print(f"| {what} | {fmt(iso)} | {fmt(inproc) if inproc is not None else '–'} |")


if __name__ == "__main__":
    main()
