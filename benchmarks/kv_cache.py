"""Q24: time per generated token against context length, with and without a KV cache.

    python benchmarks/kv_cache.py          # writes docs/img/kv_cache.png and prints the table

With a cache each new token costs about the same whatever the context (total O(L)); without one,
every step re-runs the whole prefix, so the cost per token grows with L (total O(L²)).
"""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from common import median_time, reference, save, setup_torch  # noqa: E402


def main() -> None:
    setup_torch()
    ref = reference("q24")
    tiny_gpt = __import__("tiny_gpt")
    model = tiny_gpt.TinyGPT(seed=0)
    lengths = [32, 64, 128, 256, 512, 768]
    rows = []
    for n in lengths:
        prompt = torch.randint(0, model.vocab_size, (1, 1), generator=torch.Generator().manual_seed(n))
        cached = median_time(lambda: ref.generate_greedy(model, prompt, n, use_cache=True), repeats=3)
        uncached = median_time(lambda: ref.generate_greedy(model, prompt, n, use_cache=False), repeats=1, warmup=0)
        rows.append((n, cached / n * 1e3, uncached / n * 1e3, uncached / cached))
        print(f"L={n:4d}  cached {cached / n * 1e3:6.2f} ms/token  uncached {uncached / n * 1e3:7.2f} ms/token  "
              f"ratio {uncached / cached:5.1f}x", flush=True)
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8))
    a.plot([r[0] for r in rows], [r[1] for r in rows], "o-", label="with KV cache")
    a.plot([r[0] for r in rows], [r[2] for r in rows], "s-", label="without (recompute the prefix)")
    a.set_xlabel("tokens generated (context length L)")
    a.set_ylabel("mean time per token (ms)")
    a.set_title("Q24: cost per token")
    a.legend()
    b.plot([r[0] for r in rows], [r[3] for r in rows], "d-", color="C2")
    b.set_xlabel("tokens generated (context length L)")
    b.set_ylabel("uncached / cached (x)")
    b.set_title("speed-up of the cache, same run")
    print("wrote", save(fig, "kv_cache.png"))


if __name__ == "__main__":
    main()
