"""Q36: attention time and peak memory against T: naive, the flash reference, torch's SDPA.

    python benchmarks/attention.py         # writes docs/img/attention.png and prints the table

Causal, B=1, H=8, D=64, float32, one thread. Peak memory is the resident-memory growth during one
call (Linux VmHWM reset; grader.loading.measured_call).
"""
from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from common import median_time, reference, save, setup_torch  # noqa: E402
from grader.loading import measured_call  # noqa: E402


def naive(q, k, v):
    t = q.shape[-2]
    s = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    s = s.masked_fill(~torch.ones(t, t, dtype=torch.bool).tril(), float("-inf"))
    return torch.softmax(s, dim=-1) @ v


def main() -> None:
    setup_torch()
    ref = reference("q36")
    impls = {"naive (full T×T matrix)": naive,
             "flash reference (tiled, skips masked tiles)": lambda q, k, v: ref.flash_attention(q, k, v, causal=True),
             "torch scaled_dot_product_attention": lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True)}
    ts = [256, 512, 1024, 2048, 4096]
    res = {name: ([], []) for name in impls}
    for t in ts:
        g = torch.Generator().manual_seed(t)
        q, k, v = (torch.randn(1, 8, t, 64, generator=g) for _ in range(3))
        line = [f"T={t:5d}"]
        for name, fn in impls.items():
            secs = median_time(lambda: fn(q, k, v), repeats=3)
            _, stats = measured_call(fn, q, k, v)
            res[name][0].append(secs * 1e3)
            res[name][1].append((stats["peak_bytes"] or 0) / 2**20)
            line.append(f"{name.split(' ')[0]} {secs * 1e3:8.1f} ms {res[name][1][-1]:7.1f} MiB")
        naive_ms = res["naive (full T×T matrix)"][0][-1]
        flash_ms = res["flash reference (tiled, skips masked tiles)"][0][-1]
        print("  ".join(line) + f"  naive/flash {naive_ms / flash_ms:4.1f}x", flush=True)
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    for i, name in enumerate(impls):
        a.loglog(ts, res[name][0], "o-", label=name, color=f"C{i}")
        b.loglog(ts, [max(m, 0.1) for m in res[name][1]], "o-", label=name, color=f"C{i}")
    full = [8 * t * t * 4 / 2**20 for t in ts]
    b.loglog(ts, full, "k:", label="one H×T×T float32 score matrix")
    for ax in (a, b):
        ax.set_xscale("log", base=2)
        ax.set_xticks(ts)
        ax.set_xticklabels([str(t) for t in ts])
        ax.minorticks_off()
    a.set_xlabel("T")
    a.set_ylabel("time per call (ms)")
    a.set_title("Q36: causal attention, H=8, D=64, 1 thread")
    b.set_xlabel("T")
    b.set_ylabel("peak memory growth during the call (MiB)")
    b.set_title("peak memory")
    a.legend(fontsize=8)
    b.legend(fontsize=8)
    print("wrote", save(fig, "attention.png"))


if __name__ == "__main__":
    main()
