"""Hidden suite for Q39: speculative sampling keeps the target's distribution exactly; greedy
speculation reproduces the target's greedy tokens with fewer target calls; the expected speed-up.

Cost: the step-distribution tests make 3000 (float64) and 2000 (float32) calls, the fresh-draws tests
3 x 1200; the grader sends each test's calls to the worker as ONE request (grader.checks.call_each), so
isolated they cost about what they cost in-process (~1.2 s, ~0.7 s, ~0.4 s each on a quiet machine;
before, one round trip per call: 3.3 s, 2.1 s, ~1.2 s). The generate-distribution test makes 1000 calls
that each call back the trusted draft/target about 4 times: those round trips remain (~2 s isolated).

Rubric (grader/rubrics/q39.toml): seeding, inputs-unchanged and bad-argument tests count only together
with correct values (gated), and every bad-argument test first checks a valid call next to the bad one.
"""
import math

import pytest
import torch

from grader.checks import assert_equal, assert_number, assert_true, expect_value_error, unchanged
from grader.checks import q39 as props

PROMPT = torch.tensor([1, 2, 3])


# --- speculative_step ----------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_step_outcomes_that_do_not_depend_on_randomness(sub, dtype):
    props.deterministic_cases(sub.speculative_step, dtype=dtype)


@pytest.mark.parametrize("dtype,seed,n", [(torch.float64, 100, 3000), (torch.float32, 200, 2000)])
def test_step_emits_the_target_distribution(sub, dtype, seed, n):
    """Seeded chi-square tests; a correct implementation fails this test with probability < 1e-6.

    gamma = 2, V = 4, rows grader.checks.q39.P_ROWS / Q_ROWS, n calls with one generator object.
    Bound (derivation in grader/checks/q39.py): Pearson's X^2 for each emitted position (token 0 over
    all n calls, token 1 over the ~0.44 n that accept draft 0, the bonus over the ~0.19 n that accept
    both) is compared with sum_k c_k^2 / E_k, where Bernstein's inequality and a union bound over the
    V counts give P(X^2 >= threshold) < delta/4 = 2.5e-7 each (threshold 112.8 for the first token at
    n = 3000, 115.0 at n = 2000); the mean length is held to 1 + b0 + b0*b1 = 1.6336 by Hoeffding
    (+-0.103 at n = 3000, probability < 2.5e-7). Total false-failure probability < 1e-6, with no
    large-sample approximation. (Simulated on the reference, 30 seeds per dtype: the largest X^2 was
    0.1 of its threshold; for the three mutants below at n = 2000, the smallest was 2.9 times it.)
    Wrong rules, with noncentrality lambda = n * sum_k (p'_k - p_k)^2 / p_k on the first token
    (X^2 ~ noncentral chi-square, mean 3 + lambda, sd sqrt(2 (3 + 2 lambda))), at n = 3000 (n = 2000):
      resample from p instead of norm(max(0, p - q)): p' = [.216 .16 .312 .312], lambda = 627 (418),
        mean 630 vs threshold 112.8: 10.3 sd above it (7.5 sd at n = 2000), so it fails every time;
      take the residual's argmax instead of sampling it: p' = [.58 .02 .2 .2], lambda = 1088 (14.8 sd);
      accept iff p(x) >= q(x) (deterministic): p' = [.585 .415 0 0], lambda = 2000 (21 sd);
      accept with min(1, q/p): lambda = 3932 (30 sd).
    A dropped bonus token or one from the wrong row fails the bonus position or the mean length.
    """
    props.check_step_distribution(sub.speculative_step, n_trials=n, seed=seed, dtype=dtype)


@pytest.mark.parametrize("scenario", props.INDEPENDENCE_SCENARIOS)
def test_step_draws_are_fresh(sub, scenario):
    """1200 calls with one generator where one token per call comes from the sampler alone (the bonus token
    with no drafts, the bonus after a surely accepted draft, the residual after a surely rejected one): it is
    distributed as [.35 .25 .2 .2], successive calls are independent (600 pairs against p x p), and the
    counts are not too perfect (30 blocks of 40; grader/checks/q39.py). False failure < 1e-6, proven
    (simulated on the reference, 30 seeds x 3 scenarios: pairs X^2 at most 0.04 of its threshold, at most 12
    too-perfect blocks against 19). A sampler reading u + k·phi mod 1 (a Weyl sequence) instead of fresh
    random numbers fails every scenario (pairs X^2 about 1.5 x the threshold; 30 of 30 blocks too perfect),
    though it passes the chi-square tests above."""
    props.check_step_draws_fresh(sub.speculative_step, scenario=scenario, n_trials=1200,
                                 seed=300 + props.INDEPENDENCE_SCENARIOS.index(scenario))


def test_step_same_seed_same_tokens(sub):
    p = torch.tensor(props.P_ROWS, dtype=torch.float64)
    q = torch.tensor(props.Q_ROWS, dtype=torch.float64)
    drafts = torch.tensor([[1, 2], [2, 3], [0, 1], [3, 0], [2, 2]] * 20)  # ~50 rejections, each a residual draw

    def run(seed):
        g = torch.Generator().manual_seed(seed)
        return [sub.speculative_step(p, q, x, g).tolist() for x in drafts]

    first = run(7)
    assert_equal(run(7), first, "100 speculative_step calls, repeated with a generator seeded the same",
                 hint="take every random number from the generator argument")


def test_step_leaves_inputs_alone(sub):
    p = torch.tensor(props.P_ROWS, dtype=torch.float64)
    q = torch.tensor(props.Q_ROWS, dtype=torch.float64)
    x = torch.tensor([2, 0])
    before = (p.clone(), q.clone(), x.clone())
    g = torch.Generator().manual_seed(3)
    for _ in range(20):
        sub.speculative_step(p, q, x, g)
    for b, a, name in zip(before, (p, q, x), ("target_probs", "draft_probs", "draft_tokens")):
        unchanged(b, a, name)


BAD_STEP = [
    ("target_probs with gamma rows (should be gamma + 1)", (3, 4), (3, 4), [1, 2, 3], ("target_probs",)),
    ("draft_probs with gamma + 1 rows", (4, 4), (4, 4), [1, 2, 3], ("draft_probs",)),
    ("draft_probs over a different vocabulary", (4, 4), (3, 5), [1, 2, 3], ("draft_probs", "V", "vocab")),
    ("draft_tokens of length gamma + 1", (4, 4), (3, 4), [1, 2, 3, 0], ("draft_tokens", "target_probs",
                                                                        "draft_probs")),
    ("2-D draft_tokens", (4, 4), (3, 4), [[1, 2, 3]], ("draft_tokens",)),
    ("1-D target_probs", (4,), (3, 4), [1, 2, 3], ("target_probs",)),
]


STEP_WORDS = ("target", "draft", "row", "gamma", "shape", "vocab", "dim", "size", "length", "token", "match")


@pytest.mark.parametrize("what,t_shape,d_shape,tokens,mentions", BAD_STEP, ids=[b[0] for b in BAD_STEP])
def test_step_bad_shapes(sub, what, t_shape, d_shape, tokens, mentions):
    props.deterministic_cases(sub.speculative_step)  # valid calls next to the bad one
    mentions = mentions + STEP_WORDS  # any message that says what does not fit
    t = torch.full(t_shape, 1.0 / t_shape[-1], dtype=torch.float64)
    d = torch.full(d_shape, 1.0 / d_shape[-1], dtype=torch.float64)
    expect_value_error(sub.speculative_step, t, d, torch.tensor(tokens), torch.Generator().manual_seed(0),
                       what=f"speculative_step with {what}", mentions=mentions)


# --- expected_tokens_per_step ----------------------------------------------------------------------------

@pytest.mark.parametrize("gamma", [0, 1, 2, 4, 8])
def test_expected_tokens_per_step_values(sub, ref, gamma):
    for alpha in (0.0, 0.1, 0.5, 0.6, 0.8, 0.9, 0.99, 0.999):
        assert_number(sub.expected_tokens_per_step(alpha, gamma), ref.expected_tokens_per_step(alpha, gamma),
                      f"expected_tokens_per_step({alpha}, {gamma})",
                      hint="1 + alpha + ... + alpha^gamma = (1 - alpha^(gamma+1)) / (1 - alpha)")


@pytest.mark.parametrize("gamma", [0, 1, 3, 7])
def test_expected_tokens_per_step_limits(sub, gamma):
    assert_number(sub.expected_tokens_per_step(1.0, gamma), gamma + 1, f"expected_tokens_per_step(1.0, {gamma})",
                  hint="alpha = 1 accepts every draft: gamma + 1 tokens per step (no division by 1 - alpha)")
    assert_number(sub.expected_tokens_per_step(0.0, gamma), 1.0, f"expected_tokens_per_step(0.0, {gamma})",
                  hint="alpha = 0 rejects the first draft: 1 token (the correction) per step")
    assert_number(sub.expected_tokens_per_step(1 - 1e-9, gamma), gamma + 1, f"expected_tokens_per_step(1 - 1e-9, "
                  f"{gamma})", rel=1e-6, hint="continuous at alpha = 1")
    values = [sub.expected_tokens_per_step(a / 10, gamma) for a in range(11)]
    assert_true(all(a <= b for a, b in zip(values, values[1:])),
                f"expected_tokens_per_step(alpha, {gamma}) should grow with alpha; got {values}")


def test_expected_tokens_per_step_bad_arguments(sub):
    assert_number(sub.expected_tokens_per_step(0.5, 2), 1.75, "expected_tokens_per_step(0.5, 2) (the valid call first)")
    expect_value_error(sub.expected_tokens_per_step, 1.5, 3, what="expected_tokens_per_step(1.5, 3)",
                       mentions=("alpha",))
    expect_value_error(sub.expected_tokens_per_step, -0.1, 3, what="expected_tokens_per_step(-0.1, 3)",
                       mentions=("alpha",))
    expect_value_error(sub.expected_tokens_per_step, 0.5, -1, what="expected_tokens_per_step(0.5, -1)",
                       mentions=("gamma",))


# --- speculative_generate ------------------------------------------------------------------------------

GREEDY = [(0, 0.75, 4, 40, torch.float64), (1, 0.9, 3, 33, torch.float32), (2, 0.6, 2, 25, torch.float64),
          (3, 0.9, 6, 50, torch.float32)]


@pytest.mark.parametrize("seed,agree,gamma,n_new,dtype", GREEDY)
def test_greedy_equals_target_greedy_with_fewer_calls(sub, seed, agree, gamma, n_new, dtype):
    tg, dr, pb = props.greedy_models(seed, 16, agree, dtype=dtype)
    calls = [0]
    target = props.trigram_model(tg, pb, calls)
    draft = props.trigram_model(dr, pb)
    expected = props.greedy_reference_tokens(props.trigram_model(tg, pb), PROMPT, n_new)
    got = sub.speculative_generate(target, draft, PROMPT.clone(), n_new, gamma)
    assert_equal(got, torch.tensor(expected), f"speculative_generate(greedy, gamma={gamma}, n_new={n_new}, "
                                              f"draft agreeing in ~{agree:.0%} of contexts)",
                 hint="keep draft tokens while they equal the target's argmax; at the first mismatch emit the "
                      "target's argmax; if all match, add the target's argmax after the last draft")
    assert_true(calls[0] < n_new,
                f"speculative_generate called the target {calls[0]} times for {n_new} tokens; with a draft that "
                f"mostly agrees it must call it fewer times than it emits tokens",
                hint="score all gamma drafts with ONE target call on prompt + drafts")


@pytest.mark.parametrize("gamma,n_new", [(4, 30), (3, 7), (1, 9)])
def test_perfect_draft_needs_one_target_call_per_gamma_plus_one(sub, gamma, n_new):
    tg, _, pb = props.greedy_models(5, 16, 1.0)
    calls = [0]
    got = sub.speculative_generate(props.trigram_model(tg, pb, calls), props.trigram_model(tg, pb), PROMPT.clone(),
                                   n_new, gamma)
    expected = props.greedy_reference_tokens(props.trigram_model(tg, pb), PROMPT, n_new)
    assert_equal(got, torch.tensor(expected), f"speculative_generate(draft = target, gamma={gamma}, n_new={n_new})",
                 hint="return exactly n_new tokens: cut what the last step emits beyond n_new")
    bound = math.ceil(n_new / (gamma + 1)) + 1
    assert_true(calls[0] <= bound,
                f"with a draft identical to the target, speculative_generate called the target {calls[0]} times "
                f"for {n_new} tokens at gamma={gamma}; every call should yield gamma + 1 tokens "
                f"(at most {bound} calls)",
                hint="one target call verifies all gamma drafts and gives the bonus token too")


def test_wrong_draft_still_gives_target_tokens(sub):
    tg, _, pb = props.greedy_models(6, 16, 1.0)
    plain = props.trigram_model(tg, pb)

    def contrary(ids):  # the draft's favourite is never the target's
        logits = plain(ids)
        return logits.scatter(-1, logits.argmax(-1, keepdim=True), float("-inf"))

    calls = [0]
    got = sub.speculative_generate(props.trigram_model(tg, pb, calls), contrary, PROMPT.clone(), 20, 3)
    assert_equal(got, torch.tensor(props.greedy_reference_tokens(plain, PROMPT, 20)),
                 "speculative_generate(greedy) with a draft that is always wrong",
                 hint="a rejected draft is replaced by the target's argmax, never kept")
    assert_true(calls[0] <= 20, f"the target was called {calls[0]} times for 20 tokens (at most one call per token)")


@pytest.mark.parametrize("n_new,gamma", [(0, 3), (1, 3), (2, 5), (11, 2)])
def test_generate_returns_exactly_n_new(sub, n_new, gamma):
    tg, dr, pb = props.greedy_models(7, 16, 0.8)
    got = sub.speculative_generate(props.trigram_model(tg, pb), props.trigram_model(dr, pb), PROMPT.clone(),
                                   n_new, gamma)
    assert_equal(got, torch.tensor(props.greedy_reference_tokens(props.trigram_model(tg, pb), PROMPT, n_new),
                                   dtype=torch.long),
                 f"speculative_generate(greedy, n_new={n_new}, gamma={gamma})",
                 hint="a LongTensor of exactly n_new new tokens (the prompt not included)")


def test_gamma_zero_is_plain_decoding(sub):
    """gamma = 0 is allowed (only gamma < 0 is an error): no drafts, one target call per token."""
    tg, dr, pb = props.greedy_models(10, 16, 0.8)
    calls = [0]
    got = sub.speculative_generate(props.trigram_model(tg, pb, calls), props.trigram_model(dr, pb), PROMPT.clone(),
                                   6, 0)
    assert_equal(got, torch.tensor(props.greedy_reference_tokens(props.trigram_model(tg, pb), PROMPT, 6)),
                 "speculative_generate(greedy, n_new=6, gamma=0)",
                 hint="with gamma = 0 every step is one target call and its token (the 'bonus' of zero drafts)")
    assert_true(calls[0] <= 6, f"speculative_generate(gamma=0) called the target {calls[0]} times for 6 tokens")


def test_gamma_zero_sampling(sub):
    """gamma = 0 in sampling mode: no drafts, so speculative_step gets empty draft rows (after the greedy
    gamma = 0 case is right)."""
    test_gamma_zero_is_plain_decoding(sub)
    tg, dr, pb = props.greedy_models(10, 16, 0.8)
    soft = [props.trigram_model(tg / 3, pb / 3), props.trigram_model(dr / 3, pb / 3)]
    sampled = sub.speculative_generate(*soft, PROMPT.clone(), 6, 0, generator=torch.Generator().manual_seed(1))
    assert_true(isinstance(sampled, torch.Tensor) and tuple(sampled.shape) == (6,) and sampled.dtype == torch.long
                and bool(((sampled >= 0) & (sampled < 16)).all()),
                f"speculative_generate(sampling, n_new=6, gamma=0) should return 6 token ids in [0, 16) as a "
                f"LongTensor, got {sampled!r}",
                hint="no drafts: pass an empty [0, V] draft_probs and an empty draft_tokens to speculative_step "
                     "(torch.stack of an empty list fails)")


def test_sampling_keeps_the_target_distribution(sub):
    """Seeded chi-square over 1000 generations of 2 tokens (gamma = 2); false failure < 1e-6 (Bernstein +
    union bound, grader/checks/q39.py). Drafting greedily while claiming q = softmax gives a first-token
    distribution [.353 .247 0 .4] against p_0 = [.35 .25 .2 .2]: chi-square distance 0.40, lambda ~ 400,
    mean ~403 against a threshold of 114.9 (sd ~40: 7.2 sd above it). Each generation calls back the
    trusted draft and target models about 4 times (one round trip each): 1000 rather than 1500 trials
    keeps the test near 2 s isolated at that margin."""
    props.check_generate_distribution(sub.speculative_generate, n_trials=1000, seed=11)


def test_sampling_same_seed_same_tokens(sub):
    tg, dr, pb = props.greedy_models(8, 16, 0.3)  # a draft that often disagrees: many residual draws
    soft = [props.trigram_model(tg / 3, pb / 3), props.trigram_model(dr / 3, pb / 3)]  # flatter: real sampling

    def run():
        return sub.speculative_generate(*soft, PROMPT.clone(), 12, 3, generator=torch.Generator().manual_seed(5))

    with props.one_thread():  # thousands of tiny ops: no thread wake-ups (see props.one_thread)
        first, again = run(), run()
        gen = torch.Generator().manual_seed(5)
        outs = {tuple(sub.speculative_generate(*soft, PROMPT.clone(), 12, 3, generator=gen).tolist())
                for _ in range(5)}
    assert_equal(again, first, "speculative_generate(sampling) twice with a generator seeded the same")
    assert_true(len(outs) > 1, "speculative_generate(sampling) gave the same tokens 5 times in a row with one "
                               "generator object; successive calls must continue its random stream",
                hint="draw from the generator argument; do not create or reseed a generator inside")


def test_generate_leaves_prompt_alone(sub):
    tg, dr, pb = props.greedy_models(9, 16, 0.8)
    prompt = PROMPT.clone()
    got = sub.speculative_generate(props.trigram_model(tg, pb), props.trigram_model(dr, pb), prompt, 10, 3)
    unchanged(PROMPT, prompt, "prompt")
    assert_equal(got, torch.tensor(props.greedy_reference_tokens(props.trigram_model(tg, pb), PROMPT, 10)),
                 "speculative_generate(greedy, n_new=10, gamma=3)")


@pytest.mark.parametrize("prompt,n_new,gamma,mentions", [
    ([[1, 2, 3]], 5, 2, ("prompt",)), ([], 5, 2, ("prompt",)), ([1, 2, 3], -1, 2, ("n_new",)),
    ([1, 2, 3], 5, -1, ("gamma",))])
def test_generate_bad_arguments(sub, prompt, n_new, gamma, mentions):
    tg, dr, pb = props.greedy_models(9, 16, 0.8)
    got = sub.speculative_generate(props.trigram_model(tg, pb), props.trigram_model(dr, pb), PROMPT.clone(), 5, 2)
    assert_equal(got, torch.tensor(props.greedy_reference_tokens(props.trigram_model(tg, pb), PROMPT, 5)),
                 "speculative_generate(greedy, n_new=5, gamma=2) (the valid call next to the bad one)")
    expect_value_error(sub.speculative_generate, props.trigram_model(tg, pb), props.trigram_model(dr, pb),
                       torch.tensor(prompt, dtype=torch.long), n_new, gamma,
                       what=f"speculative_generate(prompt={prompt}, n_new={n_new}, gamma={gamma})", mentions=mentions)
