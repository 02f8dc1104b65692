"""Q39: speculative decoding speed-up against the draft's acceptance rate.

    python benchmarks/speculative.py       # writes docs/img/speculative.png and prints the table

The target is "expensive" in the way decoding is: every call streams a large weight matrix (a fixed
cost, whatever the number of positions), so verifying γ drafted tokens costs about one call. The
draft agrees with the target's greedy choice at a random fraction α of positions, independently. Measured: wall-clock
speed-up of the reference's greedy speculative_generate over plain greedy decoding with the target,
in one run, next to the theory (1 − α^(γ+1)) / (1 − α) tokens per target call.
"""
from __future__ import annotations

import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from common import reference, save, setup_torch  # noqa: E402

V, D_BIG, GAMMA, N_NEW = 64, 1536, 4, 96


def make_models(alpha: float, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    table = torch.randn(V, V, generator=g)  # bigram logits: row = previous token
    heavy = torch.randn(D_BIG, D_BIG, generator=g) / D_BIG  # the "weights" every target call streams
    x0 = torch.randn(1, D_BIG, generator=g)
    agree = torch.rand(4096, generator=g) < alpha  # positions where the draft picks the target's argmax
    wrong = torch.randint(1, V, (4096,), generator=g)  # otherwise this offset from the target's argmax
    calls = {"target": 0}

    def target(ids):
        calls["target"] += 1
        h = x0
        for _ in range(6):
            h = torch.tanh(h @ heavy)  # fixed cost per call, like reading the weights once
        return table[ids] + 0.0 * h.sum()

    def draft(ids):
        logits = table[ids].clone()  # [T, V]
        t = torch.arange(len(ids))
        best = logits.argmax(-1)
        other = (best + wrong[t]) % V
        bump = torch.where(agree[t], best, other)
        logits[t, bump] = logits.max(-1).values + 1.0
        return logits

    return target, draft, calls, alpha


def plain_greedy(target, prompt, n_new):
    seq = prompt.clone()
    for _ in range(n_new):
        nxt = target(seq)[-1].argmax().view(1)
        seq = torch.cat([seq, nxt])
    return seq[len(prompt):]


def main() -> None:
    setup_torch()
    ref = reference("q39")
    prompt = torch.tensor([1, 2, 3])
    alphas = [0.0, 0.2, 0.4, 0.6, 0.8, 0.9, 1.0]
    rows = []
    for a in alphas:
        target, draft, calls, agree = make_models(a)
        t0 = time.perf_counter()
        base = plain_greedy(target, prompt, N_NEW)
        t1 = time.perf_counter()
        calls["target"] = 0
        spec = ref.speculative_generate(target, draft, prompt, N_NEW, GAMMA)
        t2 = time.perf_counter()
        assert torch.equal(base, spec), "greedy speculative decoding must equal the target's greedy output"
        speedup = (t1 - t0) / (t2 - t1)
        per_call = N_NEW / calls["target"]
        theory = ref.expected_tokens_per_step(agree, GAMMA)
        rows.append((agree, speedup, per_call, theory))
        print(f"alpha={agree:4.2f}  speed-up {speedup:4.2f}x  tokens per target call {per_call:4.2f}  "
              f"theory {theory:4.2f}", flush=True)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot([r[0] for r in rows], [r[1] for r in rows], "o-", label="measured wall-clock speed-up")
    ax.plot([r[0] for r in rows], [r[2] for r in rows], "s--", label="tokens per target call (measured)")
    ax.plot([r[0] for r in rows], [r[3] for r in rows], "k:", label=f"theory (1-α^{GAMMA + 1})/(1-α)")
    ax.set_xlabel("acceptance rate α (fraction of contexts where the draft agrees)")
    ax.set_ylabel("x")
    ax.set_title(f"Q39: greedy speculative decoding, γ={GAMMA}")
    ax.legend(fontsize=8)
    print("wrote", save(fig, "speculative.png"))


if __name__ == "__main__":
    main()
