"""Q39 property checks, shared by the self-check and the hidden suite.

The distribution checks are seeded chi-square tests with a threshold that a correct implementation
exceeds with probability below ``delta`` (1e-6 by default), proven without any large-sample
approximation:

    Pearson's statistic X^2 = sum_k (O_k - E_k)^2 / E_k, with E_k = n p_k.
    Each count O_k is a sum of n independent Bernoulli(p_k) draws, so Bernstein's inequality gives
        P(|O_k - E_k| >= c_k) <= 2 exp(-c_k^2 / (2 (n p_k (1 - p_k) + c_k / 3))).
    Choosing c_k = L/3 + sqrt(L^2/9 + 2 L n p_k (1 - p_k)) with L = ln(2 V / delta) makes each bound
    delta / V, so by the union bound, with probability >= 1 - delta every |O_k - E_k| < c_k and hence
        X^2 < threshold = sum_k c_k^2 / E_k.
    (Roughly 2 L (V - 1) + small terms: about 113-120 for V = 4, delta = 2.5e-7, against a chi-square
    mean of V - 1 = 3; the price of a proof instead of an asymptotic quantile.)

A wrong rule shifts the distribution from p to p'; then X^2 ~ noncentral chi-square with
noncentrality lambda = n * sum_k (p'_k - p_k)^2 / p_k (mean V - 1 + lambda, standard deviation
sqrt(2 (V - 1 + 2 lambda))), and the check fails whenever lambda sits many standard deviations above
the threshold. The numbers for the p, q used by the suites are in their docstrings.
"""
from __future__ import annotations

import contextlib
import functools
import math

import torch

from .core import assert_equal, call_each, fail

# The rows used by the distribution checks (V = 4). In p_0 the target likes tokens 0 and 1, which the
# draft almost never proposes (q_0 = 0.02 each): most of their mass must come from the residual
# norm(max(0, p_0 - q_0)) = [0.589, 0.411, 0, 0], so resampling from p, accepting deterministically,
# or taking the residual's argmax instead of sampling it is far off. Row 1 mirrors row 0.
P_ROWS = [[0.35, 0.25, 0.20, 0.20],   # p_0
          [0.20, 0.20, 0.25, 0.35],   # p_1
          [0.10, 0.60, 0.20, 0.10]]   # p_2: the bonus row for gamma = 2
Q_ROWS = [[0.02, 0.02, 0.46, 0.50],   # q_0: acceptance rate sum(min(p_0, q_0)) = 0.44
          [0.50, 0.46, 0.02, 0.02]]   # q_1: acceptance rate 0.44


@contextlib.contextmanager
def one_thread():
    """Thousands of calls on tiny tensors: on a busy machine, waking torch's worker threads for each one
    costs milliseconds (a [3, 4] softmax took 23 ms on 2 threads under load, 1 us on one)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def bernstein_threshold(probs: list[float], n: int, delta: float) -> float:
    """A value Pearson's X^2 over n draws from probs exceeds with probability < delta (module docstring)."""
    V = len(probs)
    L = math.log(2 * V / delta)
    total = 0.0
    for p in probs:
        var = n * p * (1 - p)
        c = L / 3 + math.sqrt(L * L / 9 + 2 * L * var)
        total += c * c / (n * p)
    return total


def chi_square(counts: list[int], probs: list[float]) -> float:
    n = sum(counts)
    return sum((o - n * p) ** 2 / (n * p) for o, p in zip(counts, probs))


def check_distribution(counts: list[int], probs: list[float], delta: float, what: str, hint: str) -> None:
    """Fail if counts (n draws) are not plausibly from probs: X^2 above the Bernstein threshold."""
    n = sum(counts)
    if n == 0:
        fail(f"{what}: no samples to test")
    x2 = chi_square(counts, probs)
    limit = bernstein_threshold(probs, n, delta)
    if x2 > limit:
        expected = [round(n * p, 1) for p in probs]
        fail(f"{what} is not distributed as the target's: over {n} draws the counts are {counts}, expected "
             f"about {expected}; chi-square {x2:.1f} > {limit:.1f} (a correct implementation exceeds this "
             f"with probability < {delta:.0e})", hint)


def check_step_distribution(speculative_step, *, n_trials: int, seed: int, dtype=torch.float64,
                            delta: float = 1e-6) -> None:
    """speculative_step emits tokens distributed exactly as the target's, position by position.

    gamma = 2 with the rows P_ROWS, Q_ROWS. Each trial draws the draft tokens x_i ~ q_i here, then makes
    one call with the same generator object (so it must give fresh randomness every call). Checks:
    every output is 1..3 tokens whose all-but-last equal the drafts (the accepted prefix); token 0 is
    distributed as p_0; token 1, in the trials that reach it, as p_1; token 2 (the bonus) as p_2; the
    mean length is 1 + b_0 + b_0 b_1 (b_i = sum(min(p_i, q_i))) within Hoeffding's bound.
    delta is split over the four checks.
    """
    p = torch.tensor(P_ROWS, dtype=dtype)
    q = torch.tensor(Q_ROWS, dtype=dtype)
    gamma, V = q.shape
    g_draft = torch.Generator().manual_seed(seed)
    drafts = torch.stack([torch.multinomial(q[i].double(), n_trials, replacement=True, generator=g_draft)
                          for i in range(gamma)], dim=1)  # [n_trials, gamma], x_i ~ q_i
    g = torch.Generator().manual_seed(seed + 1)
    counts = [[0] * V for _ in range(gamma + 1)]
    lengths: list[int] = []
    distinct = set()
    what = f"speculative_step (gamma = {gamma}, V = {V}, {dtype})"
    with one_thread():
        outputs = call_each(speculative_step, [((p, q, drafts[n].clone(), g), {}) for n in range(n_trials)])
    for n, out in enumerate(outputs):
        x = drafts[n]
        if not isinstance(out, torch.Tensor) or out.dim() != 1 or out.dtype != torch.long:
            fail(f"{what} should return a 1-D LongTensor of emitted tokens, got "
                 f"{getattr(out, 'dtype', type(out).__name__)} of shape {tuple(getattr(out, 'shape', ()))}")
        toks = out.tolist()
        if not 1 <= len(toks) <= gamma + 1:
            fail(f"{what} returned {len(toks)} tokens {toks} for draft tokens {x.tolist()}; expected 1 to "
                 f"gamma + 1 = {gamma + 1}: the accepted drafts, then exactly one corrected or bonus token",
                 hint="stop at the first rejection; add a bonus token from p_gamma only when every draft is accepted")
        if toks[:-1] != x.tolist()[:len(toks) - 1]:
            fail(f"{what} returned {toks} for draft tokens {x.tolist()}: every token but the last must be an "
                 f"accepted draft token, in order",
                 hint="walk the drafts in order; the first rejected one is replaced and ends the step")
        if any(not 0 <= t < V for t in toks):
            fail(f"{what} returned {toks}: tokens must lie in [0, {V})")
        for i, t in enumerate(toks):
            counts[i][t] += 1
        lengths.append(len(toks))
        distinct.add(tuple(toks))
    if len(distinct) == 1:
        fail(f"{what} returned {distinct.pop()} in all {n_trials} calls with the same generator object",
             hint="draw every random number from the generator you are given (it carries its state from call to "
                  "call); do not seed a new one")
    hint = ("accept draft x with probability min(1, p(x)/q(x)) using a uniform draw; on rejection sample from "
            "norm(max(0, p - q)), not from p")
    part = delta / 4
    names = ["the first emitted token", "the second emitted token (in the trials that accept draft 0)",
             "the bonus token (in the trials that accept both drafts)"]
    for i in range(gamma + 1):
        check_distribution(counts[i], P_ROWS[i], part, f"{what}: {names[i]}",
                           hint if i < gamma else "when every draft is accepted, sample one more token from "
                                                   "p_gamma = target_probs[gamma]")
    beta = [sum(min(a, b) for a, b in zip(P_ROWS[i], Q_ROWS[i])) for i in range(gamma)]
    mean_len = 1 + beta[0] + beta[0] * beta[1]
    # Hoeffding: lengths lie in [1, gamma + 1], so P(|mean - E| >= t) <= 2 exp(-2 n t^2 / gamma^2).
    t = gamma * math.sqrt(math.log(2 / part) / (2 * n_trials))
    got = sum(lengths) / n_trials
    if abs(got - mean_len) >= t:
        fail(f"{what} emitted {got:.3f} tokens per call on average over {n_trials} calls; expected "
             f"1 + b0 + b0*b1 = {mean_len:.3f} (b_i = sum(min(p_i, q_i)) is the acceptance rate; "
             f"allowed deviation {t:.3f})", hint)


# --- independence: every draw fresh, no quasi-random sequence ----------------------------------------------
#
# The chi-square tests above reject a distribution that is too far from the target's. A sampler that draws
# from a low-discrepancy sequence (u, u + phi, u + 2 phi, ... mod 1) instead of fresh random numbers has the
# right frequencies, fits them TOO well, and its successive draws depend on each other; it passes them.
# Two more seeded checks, each with a proven false-failure probability, catch it:
#  - pairs: successive draws (t_2m, t_2m+1) must be distributed as p x p (16 cells; Bernstein as above);
#  - too perfect: split the draws into blocks of BLOCK; for each block, Pearson's X^2 is at most
#    t_low with an exactly computed probability pi_low <= 0.2 (enumerating every multinomial outcome of
#    one block, no approximation); blocks are independent for a correct sampler, so the number of such
#    "too perfect" blocks is Binomial(B, pi_low), and the check fails when it reaches K with
#    P(Binomial(B, pi_low) >= K) < delta (computed exactly). A Weyl sequence makes nearly every block
#    too perfect (measured with 30 blocks: 30 of 30, against K = 19 and about 6 for a correct sampler).

BLOCK = 40
INDEPENDENCE_PROBS = [0.35, 0.25, 0.20, 0.20]


@functools.lru_cache(maxsize=None)
def too_perfect_bound(probs: tuple[float, ...], m: int, target: float = 0.2) -> tuple[float, float]:
    """(t_low, pi_low): a cut t_low with P(X^2 <= t_low) = pi_low <= target, exactly, for Pearson's X^2 of
    one block of m draws from probs (pi_low as close to target as the outcomes allow)."""
    lf = [math.lgamma(k + 1) for k in range(m + 1)]
    log_w = [[k * math.log(p) - lf[k] for k in range(m + 1)] for p in probs]   # count k in cell j
    term = [[(k - m * p) ** 2 / (m * p) for k in range(m + 1)] for p in probs]  # its share of X^2
    outcomes: list[tuple[float, float]] = []  # (X^2, probability) of every outcome of the block

    def fill(j: int, left: int, log_sum: float, x2: float) -> None:
        if j == len(probs) - 1:
            outcomes.append((x2 + term[j][left], math.exp(lf[m] + log_sum + log_w[j][left])))
            return
        for k in range(left + 1):
            fill(j + 1, left - k, log_sum + log_w[j][k], x2 + term[j][k])

    fill(0, m, 0.0, 0.0)
    outcomes.sort()
    pi_low, i = 0.0, 0
    while i < len(outcomes):  # outcomes with (nearly) equal X^2 come in or out together
        j, mass = i, 0.0
        while j < len(outcomes) and outcomes[j][0] <= outcomes[i][0] + 1e-9:
            mass += outcomes[j][1]
            j += 1
        if pi_low + mass > target:
            break
        pi_low, i = pi_low + mass, j
    # the cut sits halfway to the next X^2 value, so rounding never moves a block across it
    return (outcomes[i - 1][0] + outcomes[i][0]) / 2 if i else -1.0, pi_low


def binomial_tail_index(n: int, pi: float, delta: float) -> int:
    """The smallest K with P(Binomial(n, pi) >= K) < delta (exact sum)."""
    tail = 0.0
    for k in range(n, -1, -1):
        tail += math.comb(n, k) * pi ** k * (1 - pi) ** (n - k)
        if tail >= delta:
            return k + 1
    return 0


def check_fresh_draws(tokens: list[int], probs: list[float], delta: float, what: str, hint: str) -> None:
    """tokens, drawn one per call, are distributed as probs, pairwise independent, and not too perfect."""
    V = len(probs)
    counts = [tokens.count(k) for k in range(V)]
    check_distribution(counts, probs, delta / 3, what, hint)
    pair_counts = [0] * (V * V)
    for a, b in zip(tokens[0::2], tokens[1::2]):
        pair_counts[a * V + b] += 1
    pair_probs = [pa * pb for pa in probs for pb in probs]
    x2 = chi_square(pair_counts, pair_probs)
    limit = bernstein_threshold(pair_probs, sum(pair_counts), delta / 3)
    if x2 > limit:
        fail(f"{what}: successive calls are not independent: over {sum(pair_counts)} pairs of calls the pairs of "
             f"tokens give chi-square {x2:.1f} against p x p, above {limit:.1f} (a correct implementation exceeds "
             f"this with probability < {delta / 3:.0e})", hint)
    t_low, pi_low = too_perfect_bound(tuple(probs), BLOCK)
    n_blocks = len(tokens) // BLOCK
    too_good = sum(chi_square([tokens[b * BLOCK:(b + 1) * BLOCK].count(k) for k in range(V)], probs) <= t_low
                   for b in range(n_blocks))
    k_max = binomial_tail_index(n_blocks, pi_low, delta / 3)
    if too_good >= k_max:
        fail(f"{what} fits the target too well to be random: in {too_good} of {n_blocks} blocks of {BLOCK} calls the "
             f"counts are closer to the expected ones (chi-square <= {t_low:.3f}) than fresh random draws are in "
             f"{pi_low:.0%} of blocks; {k_max} or more such blocks happen with probability < {delta / 3:.0e}", hint)


# Each scenario: one token per call comes from the sampler alone, distributed as INDEPENDENCE_PROBS.
#   bonus_only:        gamma = 0, p_0 = probs: the bonus token.
#   bonus_after_draft: gamma = 1, p_0 = q_0 (the draft is accepted for sure), p_1 = probs: the bonus token.
#   residual:          gamma = 1, q_0 one-hot on token 4 (V = 5), p_0 = probs with p_0(4) = 0: the draft is
#                      rejected for sure and the residual max(0, p_0 - q_0) = p_0 is sampled.
INDEPENDENCE_SCENARIOS = ("bonus_only", "bonus_after_draft", "residual")


def check_step_draws_fresh(speculative_step, *, scenario: str, n_trials: int, seed: int,
                           delta: float = 1e-6) -> None:
    """n_trials calls with one generator object: the sampled token is distributed as INDEPENDENCE_PROBS,
    independent from call to call, and not too perfect (check_fresh_draws)."""
    probs = INDEPENDENCE_PROBS
    if scenario == "bonus_only":
        p, q, x, at = torch.tensor([probs], dtype=torch.float64), torch.zeros(0, 4, dtype=torch.float64), [], 0
    elif scenario == "bonus_after_draft":
        row = [0.1, 0.2, 0.3, 0.4]
        p, q, x, at = torch.tensor([row, probs], dtype=torch.float64), torch.tensor([row], dtype=torch.float64), [2], 1
    elif scenario == "residual":
        p = torch.tensor([probs + [0.0], [0.2] * 5], dtype=torch.float64)
        q, x, at = torch.tensor([[0.0, 0.0, 0.0, 0.0, 1.0]], dtype=torch.float64), [4], 0
    else:
        raise AssertionError(scenario)
    what = f"speculative_step ({scenario.replace('_', ' ')} scenario, {n_trials} calls with one generator)"
    g = torch.Generator().manual_seed(seed)
    drafts = torch.tensor(x, dtype=torch.long)
    with one_thread():
        outputs = call_each(speculative_step, [((p, q, drafts.clone(), g), {}) for _ in range(n_trials)])
    tokens = []
    for out in outputs:
        if not isinstance(out, torch.Tensor) or out.dim() != 1 or out.dtype != torch.long or len(out) != at + 1 \
                or out[:at].tolist() != x[:at] or not 0 <= int(out[at]) < len(probs):
            fail(f"{what}: drafts {x} gave {out!r}; expected {x[:at]} followed by one token in [0, {len(probs)})",
                 hint="a draft with p == q is always accepted; one with p = 0 is always rejected")
        tokens.append(int(out[at]))
    check_fresh_draws(tokens, probs, delta, what,
                      hint="draw every random number fresh from the generator (torch.rand / torch.multinomial with "
                           "generator=...); a quasi-random or stratified sequence is not a sample")


def deterministic_cases(speculative_step, dtype=torch.float64) -> None:
    """Steps whose outcome does not depend on the random numbers."""
    g = torch.Generator().manual_seed(0)
    V = 4
    same = torch.tensor([[0.1, 0.2, 0.3, 0.4], [0.4, 0.3, 0.2, 0.1], [0.25, 0.25, 0.25, 0.25]], dtype=dtype)
    bonus = torch.tensor([0.0, 0.0, 0.0, 1.0], dtype=dtype)
    for x in ([2, 0, 1], [3, 3, 3], [0, 1, 2]):
        # p_i == q_i: every draft is accepted (min(1, p/q) = 1); the bonus row is one-hot on token 3.
        out = speculative_step(torch.cat([same, bonus[None]]), same.clone(), torch.tensor(x), g)
        assert_equal(out, torch.tensor(x + [3]), f"speculative_step with p_i == q_i, drafts {x}, p_3 one-hot on 3",
                     hint="p == q accepts every draft; then the bonus token comes from target_probs[gamma]")
    # Draft 1 is impossible under the target (p_1[0] = 0): rejected for sure; the residual
    # max(0, p_1 - q_1) = [0, 0, 0.5, 0] leaves only token 2. Nothing after it is looked at.
    p = torch.tensor([[0.4, 0.3, 0.2, 0.1], [0.0, 0.5, 0.5, 0.0], [0.25] * 4, [0.25] * 4], dtype=dtype)
    q = torch.tensor([[0.4, 0.3, 0.2, 0.1], [0.5, 0.5, 0.0, 0.0], [0.25] * 4], dtype=dtype)
    for first in (0, 3):
        x = [first, 0, 1]
        out = speculative_step(p.clone(), q.clone(), torch.tensor(x), g)
        assert_equal(out, torch.tensor([first, 2]), f"speculative_step where draft 1 (token 0) has p = 0, "
                                                   f"drafts {x}",
                     hint="a rejected draft is replaced by a sample from norm(max(0, p - q)) and ends the step")
    # gamma = 0: no drafts, just one token from p_0.
    out = speculative_step(torch.tensor([[0.0, 1.0, 0.0, 0.0]], dtype=dtype), torch.zeros(0, V, dtype=dtype),
                           torch.zeros(0, dtype=torch.long), g)
    assert_equal(out, torch.tensor([1]), "speculative_step with gamma = 0 and p_0 one-hot on token 1")


# --- models for speculative_generate ---------------------------------------------------------------------

def trigram_model(table: torch.Tensor, pos_bias: torch.Tensor | None = None, calls: list[int] | None = None):
    """ids [T] -> logits [T, V]: row t = table[ids[t-1], ids[t]] + pos_bias[t] (table [V+1, V, V]; index V
    stands for 'no previous token'; pos_bias [n_ctx, V] keeps greedy output from cycling). Causal by
    construction, cheap and deterministic. If given, calls[0] counts the calls."""
    V = table.shape[-1]

    def model(ids):
        ids = torch.as_tensor(ids)
        if ids.dim() != 1 or ids.is_floating_point():
            raise ValueError(f"the model takes ids as a 1-D LongTensor [T], got shape {tuple(ids.shape)}")
        if calls is not None:
            calls[0] += 1
        prev = torch.cat([torch.tensor([V]), ids[:-1]])
        logits = table[prev, ids]  # [T, V]
        if pos_bias is not None:
            logits = logits + pos_bias[: len(ids)]
        return logits.clone()

    return model


def greedy_reference_tokens(model, prompt: torch.Tensor, n_new: int) -> list[int]:
    """Plain greedy decoding, one model call per token (the ground truth for greedy speculation)."""
    seq = prompt.tolist()
    for _ in range(n_new):
        seq.append(int(model(torch.tensor(seq))[-1].argmax()))
    return seq[len(prompt):]


def greedy_models(seed: int, V: int, agree: float, n_ctx: int = 128, dtype=torch.float64):
    """(target table, draft table, position bias): the draft's argmax agrees with the target's in about
    `agree` of the (previous, current) contexts and is wrong, by a clear margin, in the others."""
    g = torch.Generator().manual_seed(seed)
    target = 3 * torch.randn(V + 1, V, V, generator=g, dtype=dtype)
    pos_bias = 2 * torch.randn(n_ctx, V, generator=g, dtype=dtype)
    draft = target + 0.01 * torch.randn(V + 1, V, V, generator=g, dtype=dtype)
    flip = torch.rand(V + 1, V, generator=g) > agree
    for a, b in flip.nonzero().tolist():
        draft[a, b] = draft[a, b].roll(1)  # the draft now prefers another token here (if agree < 1)
    return target, draft, pos_bias


def check_generate_distribution(speculative_generate, *, n_trials: int, seed: int, gamma: int = 2,
                                delta: float = 1e-6) -> None:
    """Sampling mode: the first two new tokens are distributed as the target's (a bigram model).

    The target's next-token rows are P_ROWS-like and the draft's Q_ROWS-like, so the draft proposes
    what the target rarely wants. Tests the first token's distribution and the second token's marginal
    sum_a P(a) P(. | a), each with delta / 2.
    """
    V = 4
    p = torch.tensor([P_ROWS[0], P_ROWS[1], P_ROWS[2], [0.25, 0.25, 0.25, 0.25]], dtype=torch.float64)
    q = torch.tensor([Q_ROWS[0], Q_ROWS[1], [0.7, 0.1, 0.1, 0.1], [0.1, 0.1, 0.1, 0.7]], dtype=torch.float64)
    # bigram models (logits after token a are table[a]) of the given module toy_lm: they cross to the grader's
    # worker as data and run there, so the ~4 model calls of each generation are no round trips
    from ..loading import given_module
    BigramLM = given_module("q39", "toy_lm").BigramLM
    target, draft = BigramLM(p.log()), BigramLM(q.log())

    prompt = torch.tensor([3, 0])  # the target's first distribution is p[0]
    g = torch.Generator().manual_seed(seed)
    first = [0] * V
    second = [0] * V
    what = f"speculative_generate(sampling, gamma = {gamma}, n_new = 2)"
    with one_thread():
        outputs = call_each(speculative_generate, [((target, draft, prompt.clone(), 2, gamma), {"generator": g})
                                                         for _ in range(n_trials)])
    for out in outputs:
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != (2,) or out.dtype != torch.long:
            fail(f"{what} should return a LongTensor of shape (2,), got "
                 f"{getattr(out, 'dtype', type(out).__name__)} of shape {tuple(getattr(out, 'shape', ()))}")
        a, b = out.tolist()
        first[a] += 1
        second[b] += 1
    hint = ("in sampling mode draw each draft token from softmax(draft logits) with the generator, and pass "
            "those probabilities and the target's softmax rows to speculative_step")
    check_distribution(first, p[0].tolist(), delta / 2, f"{what}: the first new token", hint)
    marginal = (p[0] @ p).tolist()  # P(second = b) = sum_a p_0(a) p(b | a)
    check_distribution(second, marginal, delta / 2, f"{what}: the second new token", hint)
