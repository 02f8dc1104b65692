"""Q33 property checks, shared by the self-check and the hidden suite.

The statistical check of ``sample``: draw many tokens in ONE call (logits [N, V], one row per draw, rows
of several distributions interleaved), then
  1. exactly: no token of probability 0 (cut by top-k/top-p) is ever drawn;
  2. a Pearson chi-square goodness-of-fit test of the counts against the exact truncated distribution,
     all groups pooled into one statistic (independent groups: the degrees of freedom add up), at
     significance ``alpha``;
  3. the same statistic must not be suspiciously SMALL (below its lower ``alpha_low`` quantile): independent
     draws scatter around their expected counts, and a fit far better than chance betrays draws that are
     not independent (one uniform stepped along a low-discrepancy sequence, stratified draws).
A correct sampler fails step 1 never, step 2 with probability ``alpha`` and step 3 with probability
``alpha_low`` (the chi-square law of the Pearson statistic is accurate here: every expected count is at
least ``MIN_EXPECTED``; step 3 is only run where the lower quantile spans several counts, see
``_lower_check_holds``), whatever order it consumes random numbers in. ``draws_are_independent`` checks
independence directly: pairs of draws (neighbouring rows, and rows half a batch apart) against the product
of their distributions. Nothing here knows the reference answers: the expected distribution is passed in
(hand-worked in the self-check, from the reference in the hidden suite).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .core import assert_close, assert_shape, fail

MIN_EXPECTED = 1000.0  # every kept token's expected count; keeps the chi-square law accurate in its tail


def _chi2_quantile(alpha: float, df: int, upper: bool) -> float:
    """x with P(X >= x) = alpha (upper) or P(X <= x) = alpha (lower) for X ~ chi2(df), by bisection."""
    if not 0 < alpha < 1 or df < 1:
        raise ValueError(f"chi-square quantiles need 0 < alpha < 1 and df >= 1, got {alpha}, {df}")
    a = torch.tensor(df / 2.0, dtype=torch.float64)
    tail = torch.special.gammaincc if upper else torch.special.gammainc  # P(X >= x) falls, P(X <= x) rises

    def beyond(x: float) -> bool:  # is x still inside the tail's alpha mass?
        p = float(tail(a, torch.tensor(x / 2.0, dtype=torch.float64)))
        return p > alpha if upper else p < alpha

    lo, hi = 0.0, float(df) + 10.0
    while upper and beyond(hi):
        hi *= 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if beyond(mid) else (lo, mid)
    return hi if upper else lo


def chi2_isf(alpha: float, df: int) -> float:
    """The chi-square quantile x with P(X >= x) = alpha for X ~ chi2(df)."""
    return _chi2_quantile(alpha, df, upper=True)


def chi2_ppf(alpha: float, df: int) -> float:
    """The chi-square quantile x with P(X <= x) = alpha for X ~ chi2(df) (the lower tail)."""
    return _chi2_quantile(alpha, df, upper=False)


def _lower_check_holds(lower: float, min_expected: float) -> bool:
    """The lower tail of the chi-square law describes counts only where it spans several counts per cell:
    |count - expected| <= sqrt(lower · expected) must allow >= 5 counts, else the lattice of integer counts,
    not the law, decides (with df = 2 the lower 1e-8 quantile is 2e-8: counts equal to the expected ones)."""
    return lower * min_expected >= 25.0


def _pearson(counts: torch.Tensor, expected_counts: torch.Tensor) -> tuple[torch.Tensor, float]:
    """Per-cell Pearson terms (0 where nothing is expected) and their sum."""
    kept = expected_counts > 0
    terms = torch.where(kept, (counts - expected_counts) ** 2 / expected_counts.clamp_min(1e-300),
                        torch.zeros_like(counts))
    return terms, terms.sum().item()


def _too_perfect(stat: float, df: int, alpha_low: float, min_expected: float, call: str, what: str) -> None:
    lower = chi2_ppf(alpha_low, df)
    if _lower_check_holds(lower, min_expected) and stat < lower:
        fail(f"{call}: {what} fit their expected counts too well to be independent random draws (chi-square "
             f"{stat:.4g} < {lower:.4g}, its lower {alpha_low:g} quantile, df={df})",
             hint="draw every row independently from its own distribution (torch.multinomial with the generator, "
                  "or one fresh uniform per row); one uniform stepped along a sequence is not random sampling")


def interleave(rows: torch.Tensor, n_per_group: int) -> torch.Tensor:
    """rows [G, V] -> logits [G * n, V] where row r is a copy of rows[r % G]."""
    return rows.repeat(n_per_group, 1)


def sample_matches_distribution(sample, rows: torch.Tensor, expected: torch.Tensor, *, n_per_group: int,
                                seed: int, alpha: float = 1e-7, alpha_low: float = 1e-8, temperature: float = 1.0,
                                top_k=None, top_p=None, what: str = "sample") -> None:
    """``sample`` on ``rows`` [G, V] repeated ``n_per_group`` times draws from ``expected`` [G, V] (float64).

    One call; false-failure probability ``alpha + alpha_low`` for a correct sampler (see the module docstring).
    """
    g_count, vocab = rows.shape
    expected = expected.to(torch.float64)
    kept = expected > 0
    low = (n_per_group * expected[kept]).min().item()
    if low < MIN_EXPECTED:  # a check-design error, not the candidate's
        raise ValueError(f"expected count {low:.0f} < {MIN_EXPECTED:.0f}: draw more or choose other rows")
    logits = interleave(rows, n_per_group)
    gen = torch.Generator().manual_seed(seed)
    setting = f"temperature={temperature}, top_k={top_k}, top_p={top_p}"
    call = f"{what}(logits [{g_count * n_per_group}, {vocab}], {setting})"
    ids = _draw(sample, logits, call, temperature=temperature, top_k=top_k, top_p=top_p, generator=gen)
    groups = torch.arange(g_count * n_per_group) % g_count
    counts = _count((groups,), ids, (g_count, vocab))
    outside = (counts > 0) & ~kept
    if bool(outside.any()):
        g, tok = (int(i) for i in outside.nonzero()[0])
        fail(f"{call} drew token {tok} {int(counts[g, tok])} times out of {n_per_group} for row "
             f"{_row(rows[g])}, but that token must have probability 0 here (it is cut by top-k/top-p); "
             f"the kept tokens are {kept[g].nonzero().flatten().tolist()}",
             hint="temperature first, then top-k (ties at the k-th value kept), then top-p on the "
                  "renormalised distribution, keeping the token that crosses p and no more")
    terms, stat = _pearson(counts, n_per_group * expected)
    df = int((kept.sum(dim=1) - 1).sum())
    if df == 0:  # every group is a single token: the exact check above decided it
        return
    limit = chi2_isf(alpha, df)
    if stat > limit:
        g, tok = (int(i) for i in torch.unravel_index(terms.argmax(), terms.shape))
        fail(f"{call}: the drawn frequencies do not follow the expected distribution (chi-square {stat:.4g} "
             f"> {limit:.4g}, df={df}, significance {alpha:g}); worst: token {tok} of row {_row(rows[g])} "
             f"came {counts[g, tok] / n_per_group:.4f} of the time, expected {expected[g, tok]:.4f}",
             hint="sample from the truncated distribution: temperature first, then top-k, then top-p "
                  "(keep the crossing token), renormalise, then draw with the generator")
    _too_perfect(stat, df, alpha_low, low, call, "the drawn frequencies")


def _draw(sample, logits: torch.Tensor, call: str, **kwargs) -> torch.Tensor:
    """One call of sample on logits [N, V]: N token ids (int64, inside the vocabulary)."""
    n, vocab = logits.shape
    ids = sample(logits, **kwargs)
    assert_shape(ids, (n,), call, hint="one token id per row of logits")
    if ids.dtype != torch.int64:
        fail(f"{call} returned dtype {ids.dtype}, expected torch.int64 (token ids)")
    if bool(((ids < 0) | (ids >= vocab)).any()):
        bad = ids[(ids < 0) | (ids >= vocab)][0].item()
        fail(f"{call} returned token id {bad}, outside the vocabulary [0, {vocab})")
    return ids


def _count(index: tuple[torch.Tensor, ...], ids: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    counts = torch.zeros(shape, dtype=torch.float64)
    counts.index_put_((*index, ids), torch.ones(len(ids), dtype=torch.float64), accumulate=True)
    return counts


def draws_are_independent(sample, rows: torch.Tensor, expected: torch.Tensor, *, n_per_group: int, seed: int,
                          alpha: float = 1e-7, alpha_low: float = 1e-8, what: str = "sample", **settings) -> None:
    """Rows are independent draws: one call of ``sample`` on ``rows`` [2, V] interleaved (r0, r1, r0, r1, ...),
    ``2 · n_per_group`` rows, then two pair tables, each a Pearson test against the product distribution:

    - neighbours (row 2j, row 2j + 1): ``n_per_group`` pairs drawn from expected[0] ⊗ expected[1];
    - half a batch apart (row i, row i + n_per_group), i < n_per_group: as many pairs, from expected[g] ⊗
      expected[g] for the group g of row i (``n_per_group`` must be even so both rows share a group).

    Every row is in one pair of each table, so for a correct sampler each table holds independent pairs and
    fails with probability ``alpha`` (too poor a fit) plus ``alpha_low`` (too good a fit). A sampler whose
    draws depend on each other (one uniform stepped along a sequence, a uniform reused for two rows, antithetic
    pairs) puts the pairs' mass on a few cells, far from the product.
    """
    g_count, vocab = rows.shape
    if g_count != 2 or n_per_group % 2:
        raise ValueError("draws_are_independent needs two row distributions and an even n_per_group")
    expected = expected.to(torch.float64)
    n = 2 * n_per_group
    call = f"{what}(logits [{n}, {vocab}], {', '.join(f'{k}={v}' for k, v in settings.items())})"
    ids = _draw(sample, interleave(rows, n_per_group), call, generator=torch.Generator().manual_seed(seed),
                **settings)
    first = ids[:n].view(n_per_group, 2)  # (row 2j, row 2j + 1)
    half = torch.stack([ids[:n_per_group], ids[n_per_group:]], dim=1)  # (row i, row i + n_per_group)
    tables = [("neighbouring rows (2j, 2j + 1)", torch.zeros(n_per_group, dtype=torch.long), first,
               torch.outer(expected[0], expected[1])[None]),
              ("rows half a batch apart (i, i + N/2)", torch.arange(n_per_group) % 2, half,
               torch.stack([torch.outer(expected[g], expected[g]) for g in range(2)]))]
    for label, table_of_pair, pairs, product in tables:
        pair_counts = _count((table_of_pair, pairs[:, 0]), pairs[:, 1], (product.shape[0], vocab, vocab))
        per_table = torch.bincount(table_of_pair, minlength=product.shape[0]).to(torch.float64)
        expected_counts = per_table[:, None, None] * product
        low = expected_counts[expected_counts > 0].min().item()
        if low < MIN_EXPECTED:  # a check-design error, not the candidate's
            raise ValueError(f"expected pair count {low:.0f} < {MIN_EXPECTED:.0f}: draw more or choose other rows")
        if bool((pair_counts > 0).logical_and(expected_counts == 0).any()):
            fail(f"{call}: a pair of {label} holds a token of probability 0", hint="never draw a cut token")
        terms, stat = _pearson(pair_counts, expected_counts)
        df = int(((product > 0).flatten(1).sum(dim=1) - 1).sum())
        limit = chi2_isf(alpha, df)
        if stat > limit:
            t, a, b = (int(i) for i in torch.unravel_index(terms.argmax(), terms.shape))
            fail(f"{call}: the draws of {label} are not independent (chi-square {stat:.4g} > {limit:.4g} against the "
                 f"product of their distributions, df={df}, significance {alpha:g}); worst: the pair ({a}, {b}) came "
                 f"{int(pair_counts[t, a, b])} times, {expected_counts[t, a, b]:.0f} expected",
                 hint="rows are independent draws: one fresh random number per row from the generator "
                      "(torch.multinomial does it), never one uniform stepped or reused across rows")
        _too_perfect(stat, df, alpha_low, low, call, f"the pairs of {label}")


def _row(row: torch.Tensor) -> str:
    return "[" + ", ".join(f"{v:.3g}" for v in row.tolist()) + "]"


def same_seed_same_samples(sample, logits: torch.Tensor, *, seed: int, **settings) -> None:
    """Two generators with the same seed give the same tokens."""
    a = sample(logits, generator=torch.Generator().manual_seed(seed), **settings)
    b = sample(logits, generator=torch.Generator().manual_seed(seed), **settings)
    assert_close(b, a, f"sample with a fresh generator seeded {seed} (second call against the first)",
                 hint="draw every random number from the `generator` argument, never torch's global RNG")


def generator_drives_samples(sample, logits: torch.Tensor, *, seed: int, **settings) -> None:
    """Other seeds give other tokens, and the generator advances: a second call with it draws anew.

    ``logits`` must leave several tokens in many rows, so that two independent draws of all rows agree
    with negligible probability (a correct sampler fails this never in practice).
    """
    a = sample(logits, generator=torch.Generator().manual_seed(seed), **settings)
    b = sample(logits, generator=torch.Generator().manual_seed(seed + 1), **settings)
    if torch.equal(a, b):
        fail(f"sample drew the same {len(a)} tokens with generators seeded {seed} and {seed + 1}",
             hint="draw every random number from the `generator` argument (not a generator of your own)")
    gen = torch.Generator().manual_seed(seed)
    first = sample(logits, generator=gen, **settings)
    second = sample(logits, generator=gen, **settings)
    if torch.equal(first, second):
        fail(f"two calls of sample with the same generator object drew the same {len(first)} tokens",
             hint="use the generator itself (its state must advance), not a copy of it")


def matches_torch_softmax(softmax, log_softmax, logits: torch.Tensor, *, temperature: float = 1.0,
                          what: str = "", rtol: float | None = None, atol: float | None = None) -> None:
    """softmax / log_softmax agree with torch's (finite where torch's are) and leave the input alone."""
    before = logits.clone()
    kw = {} if temperature == 1.0 else {"temperature": temperature}
    for name, mine, theirs in (("softmax", softmax, torch.softmax), ("log_softmax", log_softmax, torch.log_softmax)):
        got = mine(logits, **kw)
        expected = theirs(logits / temperature, dim=-1)
        call = f"{name}(logits {tuple(logits.shape)} {what}{', temperature=' + str(temperature) if kw else ''})"
        assert_shape(got, expected.shape, call)
        if bool((torch.isfinite(expected) & ~torch.isfinite(got)).any()):
            fail(f"{call} returned inf or NaN where the answer is finite",
                 hint="subtract the row's max before exp: exp(x - max) never overflows, and log-softmax "
                      "is (x - max) - log(sum(exp(x - max))), never log(softmax)")
        assert_close(got, expected, call, rtol=rtol, atol=atol,
                     hint="softmax over the LAST dim of logits / temperature")
        if not torch.equal(before, logits):
            fail(f"{name} changed its input in place; functions must not modify their inputs")


def cross_entropy_matches_torch(cross_entropy, logits: torch.Tensor, targets: torch.Tensor,
                                ignore_index: int = -100, *, what: str = "") -> None:
    """cross_entropy(logits [..., V], targets [...]) equals torch's on the flattened rows."""
    vocab = logits.shape[-1]
    kw = {} if ignore_index == -100 else {"ignore_index": ignore_index}
    got = cross_entropy(logits, targets, **kw)
    expected = F.cross_entropy(logits.reshape(-1, vocab), targets.reshape(-1), ignore_index=ignore_index)
    n_used = int((targets != ignore_index).sum())
    call = (f"cross_entropy(logits {tuple(logits.shape)}, targets {tuple(targets.shape)}"
            f"{', ignore_index=' + str(ignore_index) if kw else ''}) {what}".rstrip())
    assert_close(got, expected, call,
                 hint=f"the mean of -log p(target) over the {n_used} targets != ignore_index "
                      "(divide by their count, not by all positions)")


def uniform_cross_entropy(cross_entropy, vocab: int, dtype=torch.float64) -> None:
    """Equal logits: every token has p = 1/V, so the loss is log V whatever the targets."""
    logits = torch.zeros(3, vocab, dtype=dtype)
    targets = torch.tensor([0, vocab - 1, vocab // 2])
    got = cross_entropy(logits, targets)
    assert_close(got, torch.tensor(math.log(vocab), dtype=dtype), f"cross_entropy of uniform logits (V={vocab})",
                 hint="-log(1/V) = log V")
