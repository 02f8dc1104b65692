"""Hidden suite for Q33: softmax / log_softmax / cross_entropy against torch (stable at |logits| ~ 1e4,
ignore_index, all-ignored, dtypes, batch dims), sampling_probs against the reference, and `sample`
tested statistically against the exact truncated distribution."""
import pytest
import torch

from grader.checks import assert_close, assert_equal, assert_shape, expect_value_error, fail, unchanged
from grader.checks import q33 as props
from grader.forbidden import no_forbidden_calls

DTYPES = [torch.float32, torch.float64]
LEADS = [(), (3,), (2, 4)]


def _randn(seed, *shape, dtype=torch.float64, scale=3.0):
    g = torch.Generator().manual_seed(seed)
    return (scale * torch.randn(*shape, generator=g, dtype=torch.float64)).to(dtype)


# --- softmax / log_softmax --------------------------------------------------------------------------

@pytest.mark.parametrize("temperature", [1.0, 0.5, 2.5])
@pytest.mark.parametrize("lead", LEADS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_and_log_softmax_match_torch(sub, dtype, lead, temperature):
    logits = _randn(len(lead) * 10 + int(temperature * 4), *lead, 11, dtype=dtype)
    props.matches_torch_softmax(sub.softmax, sub.log_softmax, logits, temperature=temperature)


@pytest.mark.parametrize("shift", [0.0, 1e4, -1e4])
@pytest.mark.parametrize("dtype", DTYPES)
def test_stable_at_large_logits(sub, dtype, shift):
    """Logits spread over +-1e4 (and shifted by +-1e4): finite and equal to torch's.

    float32 tolerance: at |x| ~ 2e4 one float32 ulp is 2^-9 ~ 0.002, so a correct x - logsumexp(x) may
    differ from torch's (x - max) - log(sum) by a few ulps of |x|; the overflow/underflow bugs this test
    exists for give inf/NaN, which no tolerance lets through.
    """
    logits = _randn(7, 4, 9, dtype=dtype, scale=1e4) + shift
    logits[0, :3] = torch.tensor([1e4, -1e4, 0.0], dtype=dtype) + shift  # an exact +-1e4 spread in one row
    big = float(logits.abs().max())
    rtol, atol = (1e-9, 1e-9) if dtype == torch.float64 else (4 * 2.0 ** -23 * big, 4 * 2.0 ** -23 * big)
    props.matches_torch_softmax(sub.softmax, sub.log_softmax, logits, what=f"spread over +-1e4, shift {shift:g}",
                                rtol=rtol, atol=atol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_masked_logits(sub, dtype):
    """-inf logits (masked tokens) get probability 0 and log-probability -inf, as in torch."""
    logits = _randn(3, 3, 6, dtype=dtype)
    logits[0, 2] = logits[1, 0] = logits[1, 5] = logits[2, 1:5] = float("-inf")
    props.matches_torch_softmax(sub.softmax, sub.log_softmax, logits, what="with -inf entries")


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan")])
def test_softmax_bad_temperature(sub, bad):
    logits = torch.zeros(3)
    props.matches_torch_softmax(sub.softmax, sub.log_softmax, _randn(2, 2, 5), temperature=0.5)  # valid first
    expect_value_error(sub.softmax, logits, temperature=bad, what=f"softmax(logits, temperature={bad})",
                       mentions=("temperature",))
    expect_value_error(sub.log_softmax, logits, temperature=bad, what=f"log_softmax(logits, temperature={bad})",
                       mentions=("temperature",))


def test_softmax_scalar_logits_rejected(sub):
    props.matches_torch_softmax(sub.softmax, sub.log_softmax, _randn(3, 1, 4))  # a valid [1, V] first
    expect_value_error(sub.softmax, torch.tensor(1.0), what="softmax of a 0-dim tensor (no vocabulary dim)",
                       mentions=("logits",))


# --- cross_entropy ------------------------------------------------------------------------------------

def _targets(seed, lead, vocab, ignore_index, frac_ignored=0.3):
    g = torch.Generator().manual_seed(seed)
    t = torch.randint(1, vocab, lead, generator=g)  # 1.. so that ignore_index=0 is only where we put it
    drop = torch.rand(lead, generator=g) < frac_ignored
    if t.dim() == 0:
        return t
    drop.view(-1)[0] = True  # at least one ignored ...
    drop.view(-1)[-1] = False  # ... and at least one used
    return torch.where(drop, torch.full_like(t, ignore_index), t)


@pytest.mark.parametrize("ignore_index", [-100, 0])
@pytest.mark.parametrize("lead", [(), (7,), (3, 5)])
@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_matches_torch(sub, dtype, lead, ignore_index):
    vocab = 9
    logits = _randn(len(lead) + 20 * (ignore_index == 0), *lead, vocab, dtype=dtype)
    targets = _targets(len(lead), lead, vocab, ignore_index)
    before_l, before_t = logits.clone(), targets.clone()
    props.cross_entropy_matches_torch(sub.cross_entropy, logits, targets, ignore_index)
    unchanged(before_l, logits, "logits")
    unchanged(before_t, targets, "targets")


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_stable_at_large_logits(sub, dtype):
    logits = _randn(11, 4, 6, 8, dtype=dtype, scale=1e4)
    targets = _targets(11, (4, 6), 8, -100)
    got = sub.cross_entropy(logits, targets)
    assert_shape(got, (), "cross_entropy(logits spread over +-1e4, targets)")
    if not bool(torch.isfinite(got)):
        fail(f"cross_entropy with logits spread over +-1e4 returned {got.item()}, expected a finite loss",
             hint="use a stable log-softmax: (x - max) - log(sum(exp(x - max)))")
    props.cross_entropy_matches_torch(sub.cross_entropy, logits, targets, what="(logits spread over +-1e4)")


def test_cross_entropy_uniform_is_log_vocab(sub):
    for vocab in (2, 10, 50257):
        props.uniform_cross_entropy(sub.cross_entropy, vocab)


@pytest.mark.parametrize("ignore_index", [-100, 3])
def test_cross_entropy_all_ignored_is_nan(sub, ignore_index):
    """Decision: every target ignored -> NaN (0/0), exactly what torch's mean reduction returns."""
    logits = _randn(5, 2, 4, 6)
    targets = torch.full((2, 4), ignore_index)
    kw = {} if ignore_index == -100 else {"ignore_index": ignore_index}
    one_used = targets.clone()
    one_used[1, 2] = 5  # a correct loss first: one target used, the mean over it alone
    props.cross_entropy_matches_torch(sub.cross_entropy, logits, one_used, ignore_index, what="(one target used)")
    got = sub.cross_entropy(logits, targets, **kw)
    assert_shape(got, (), f"cross_entropy with every target = {ignore_index}")
    if not bool(torch.isnan(got)):
        fail(f"cross_entropy with every target ignored returned {got.item()!r}, expected NaN",
             hint="the mean over zero targets is 0/0 = NaN, as in torch; do not divide by the number of positions")


@pytest.mark.parametrize("dtype", [torch.int32, torch.int16, torch.int8, torch.uint8])
def test_cross_entropy_other_integer_targets(sub, dtype):
    """int64 targets must work; another integer dtype gives the same loss or a ValueError naming the targets
    (torch's own cross_entropy refuses int32 and int16), never another error (gather refuses int16 indices)."""
    logits = _randn(12, 3, 5, 7)
    targets = _targets(12, (3, 5), 7, -100)
    expected = torch.nn.functional.cross_entropy(logits.reshape(-1, 7), targets.reshape(-1))
    assert_close(sub.cross_entropy(logits, targets), expected, "cross_entropy(logits [3, 5, 7], int64 targets [3, 5])")
    call = f"cross_entropy(logits [3, 5, 7], {dtype} targets [3, 5])"
    try:
        got = sub.cross_entropy(logits, targets.to(dtype))
    except ValueError as e:
        if "target" not in str(e).lower():
            fail(f"{call} raised ValueError({str(e)!r}); a refusal must name the targets")
        return
    except NotImplementedError:
        raise
    except Exception as e:  # noqa: BLE001 - a crash inside the computation is neither answer
        fail(f"{call} raised {type(e).__name__}: {str(e)[:120]}",
             hint="convert integer ids with targets.long() (gather wants int64), or refuse the dtype with a "
                  "ValueError naming targets")
    assert_close(got, expected, call, hint="the same ids in another integer dtype are the same targets")


@pytest.mark.parametrize("case", ["shape", "float_targets", "too_big", "negative"])
def test_cross_entropy_bad_targets(sub, case):
    logits = torch.zeros(2, 3, 5)
    props.cross_entropy_matches_torch(sub.cross_entropy, _randn(4, 2, 3, 5), torch.tensor([[0, 4, 2], [1, 1, 3]]))
    targets = {"shape": torch.zeros(2, 4, dtype=torch.long), "float_targets": torch.zeros(2, 3),
               "too_big": torch.tensor([[0, 1, 5], [0, 0, 0]]), "negative": torch.tensor([[0, -1, 2], [0, 0, 0]])}[case]
    expect_value_error(sub.cross_entropy, logits, targets, what=f"cross_entropy with bad targets ({case})",
                       mentions=("target",))


# --- sampling_probs -------------------------------------------------------------------------------------

CONFIGS = [(1.0, None, None), (0.7, None, None), (1.0, 5, None), (1.3, 3, None), (1.0, None, 0.9),
           (0.6, None, 0.5), (1.2, 4, 0.8), (0.9, 7, 0.95), (1.0, 0, 1.0), (2.0, 100, None), (1.0, 1, None)]


def _far_from_top_p_boundary(logits, temperature, top_k, top_p, ref, margin=1e-4):
    """Test design: no prefix mass within `margin` of p, so float rounding cannot change the kept set."""
    if top_p is None or top_p >= 1:  # off
        return
    probs = ref.sampling_probs(logits.double(), temperature, top_k, None)
    cum = probs.sort(dim=-1, descending=True).values.cumsum(-1)
    assert float((cum - top_p).abs().min()) > margin, "choose another seed: a prefix mass is too close to top_p"


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"T{c[0]}-k{c[1]}-p{c[2]}")
@pytest.mark.parametrize("dtype", DTYPES)
def test_sampling_probs_matches_reference(sub, ref, dtype, config):
    temperature, top_k, top_p = config
    logits = _randn(CONFIGS.index(config), 3, 4, 12, dtype=dtype, scale=2.0)
    _far_from_top_p_boundary(logits, *config, ref)
    before = logits.clone()
    got = sub.sampling_probs(logits, temperature=temperature, top_k=top_k, top_p=top_p)
    unchanged(before, logits, "logits")
    assert_close(got, ref.sampling_probs(logits, temperature, top_k, top_p),
                 f"sampling_probs(logits {tuple(logits.shape)}, temperature={temperature}, top_k={top_k}, "
                 f"top_p={top_p})",
                 hint="temperature first, then top-k (ties kept), then top-p on the renormalised top-k "
                      "distribution keeping the crossing token; top_k 0/None and top_p 1/None are off")


@pytest.mark.parametrize("top_k", [1, 2, 3, 5])
@pytest.mark.parametrize("dtype", DTYPES)
def test_sampling_probs_top_k_keeps_ties(sub, ref, dtype, top_k):
    g = torch.Generator().manual_seed(top_k)
    logits = torch.randint(-3, 3, (6, 10), generator=g).to(dtype)  # many ties, also at the k-th value
    got = sub.sampling_probs(logits, temperature=0.8, top_k=top_k)
    assert_close(got, ref.sampling_probs(logits, 0.8, top_k, None), f"sampling_probs(integer logits with ties, "
                 f"top_k={top_k})", hint="keep every token whose logit is >= the k-th largest (ties at the k-th "
                                          "value are all kept), not exactly k tokens")


@pytest.mark.parametrize("dtype", DTYPES)
def test_sampling_probs_temperature_zero_is_one_hot(sub, dtype):
    logits = _randn(4, 5, 7, dtype=dtype)
    expected = torch.nn.functional.one_hot(logits.argmax(-1), 7).to(dtype)
    assert_close(sub.sampling_probs(logits, temperature=0.0, top_p=0.5), expected,
                 "sampling_probs(logits, temperature=0) (greedy)", hint="temperature 0: all mass on the argmax")


@pytest.mark.parametrize("kwargs,mentions", [
    ({"temperature": -1.0}, ("temperature",)), ({"top_k": -1}, ("top_k",)), ({"top_k": 2.5}, ("top_k",)),
    ({"top_p": 0.0}, ("top_p",)), ({"top_p": 1.5}, ("top_p",)), ({"top_p": -0.2}, ("top_p",))])
def test_sampling_probs_bad_arguments(sub, ref, kwargs, mentions):
    logits = _randn(6, 2, 5)
    assert_close(sub.sampling_probs(logits, 0.8, 2, 0.9), ref.sampling_probs(logits, 0.8, 2, 0.9),
                 "sampling_probs(logits [2, 5], temperature=0.8, top_k=2, top_p=0.9) (valid arguments)")
    expect_value_error(sub.sampling_probs, torch.zeros(2, 5), **kwargs, what=f"sampling_probs(logits, {kwargs})",
                       mentions=mentions)


# --- sample: exact cases ---------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_sample_shapes_and_dtype(sub, dtype):
    vocab = 13
    one = sub.sample(_randn(1, vocab, dtype=dtype), generator=torch.Generator().manual_seed(1))
    assert_shape(one, (), "sample(logits [13])", hint="logits [V] -> one token id, a 0-dim LongTensor")
    logits = _randn(2, 6, vocab, dtype=dtype)
    before = logits.clone()
    batch = sub.sample(logits, temperature=0.7, top_k=4, top_p=0.9, generator=torch.Generator().manual_seed(2))
    unchanged(before, logits, "logits")
    assert_shape(batch, (6,), "sample(logits [6, 13])", hint="logits [B, V] -> LongTensor [B]")
    for what, ids in (("sample(logits [13])", one), ("sample(logits [6, 13])", batch)):
        if ids.dtype != torch.int64:
            fail(f"{what} has dtype {ids.dtype}, expected torch.int64 (token ids)")
        if bool(((ids < 0) | (ids >= vocab)).any()):
            fail(f"{what} returned {ids.tolist()}, outside the vocabulary [0, {vocab})")


@pytest.mark.parametrize("settings", [{"temperature": 0.0}, {"temperature": 0.0, "top_k": 3, "top_p": 0.5},
                                      {"temperature": 1.0, "top_k": 1}, {"temperature": 0.3, "top_p": 1e-6}],
                         ids=["T0", "T0-k3-p0.5", "k1", "p-tiny"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_sample_greedy_cases(sub, dtype, settings):
    """Temperature 0, top_k=1 and a tiny top_p all leave only the argmax."""
    logits = _randn(8, 50, 9, dtype=dtype)
    got = sub.sample(logits, generator=torch.Generator().manual_seed(0), **settings)
    assert_close(got, logits.argmax(-1), f"sample(logits [50, 9], {settings})",
                 hint="only the argmax survives here: temperature 0 is greedy; top_k=1 and a tiny top_p keep one token")
    one = sub.sample(logits[3], generator=torch.Generator().manual_seed(0), **settings)
    assert_close(one, logits[3].argmax(), f"sample(logits [9], {settings})")


def test_same_seed_same_samples(sub):
    logits = _randn(9, 2000, 10, scale=1.0)
    props.same_seed_same_samples(sub.sample, logits, seed=1234, temperature=1.3, top_k=6, top_p=0.9)


def test_generator_drives_the_draws(sub):
    """Different seeds, different tokens; the same generator used twice draws anew (it advances)."""
    logits = _randn(9, 2000, 10, scale=1.0)
    props.generator_drives_samples(sub.sample, logits, seed=4321, temperature=1.3, top_k=6, top_p=0.9)


@pytest.mark.parametrize("args,kwargs,mentions", [
    ((torch.tensor(0.5),), {}, ("logits",)), ((torch.zeros(2, 3, 4),), {}, ("logits",)),
    ((torch.zeros(4),), {"temperature": -0.5}, ("temperature",)), ((torch.zeros(4),), {"top_p": 0.0}, ("top_p",)),
    ((torch.zeros(4),), {"top_k": -2}, ("top_k",))], ids=["0-dim", "3-dim", "T<0", "p=0", "k<0"])
def test_sample_bad_arguments(sub, args, kwargs, mentions):
    logits = _randn(7, 3, 5)
    assert_close(sub.sample(logits, temperature=0.0), logits.argmax(-1), "sample(logits [3, 5], temperature=0) "
                 "(valid arguments)", hint="temperature 0 is greedy")
    expect_value_error(sub.sample, *args, **kwargs, what=f"sample(logits {tuple(args[0].shape)}, {kwargs})",
                       mentions=mentions)


# --- sample: statistical tests ---------------------------------------------------------------------------
#
# False-failure bound. Each statistical test makes ONE call of sample on logits [N, V] (a few row
# distributions interleaved) and fails only if (a) a token of probability 0 is drawn — impossible for a
# correct sampler — or (b) the Pearson chi-square statistic of the counts against the exact truncated
# distribution (from the reference, in float64) exceeds its chi-square quantile at significance 1e-7, or
# (c) falls below its lower 1e-8 quantile (a fit too perfect for independent draws; only where that quantile
# spans >= 5 counts per cell, so the lattice of counts cannot decide it: not for df = 2).
# Every kept token's expected count is >= 5100 (props.MIN_EXPECTED enforces >= 1000), where the Pearson
# statistic follows its chi-square law closely (measured with torch.multinomial, 20000 runs at expected
# counts as low as 94: rejection rates 0.0993 / 0.0092 / 0.00115 / 0.0001 at significance 0.1 / 0.01 /
# 0.001 / 1e-4), so a correct sampler — whatever order it consumes random numbers in — fails a test with
# probability <= 1.1e-7, and this suite's 5 statistical tests (the independence test computes two
# statistics) together with probability <= 6.6e-7 < 1e-6. Every top-p prefix mass is >= 0.02 away from p,
# so float32/float64 rounding cannot change the kept set.
#
# Power ("fails every time"), from the mutants in mutants/q33.toml, computed per test below: a mutant
# that keeps a token the reference cuts draws it with probability q_out per row, so it escapes the exact
# check with probability (1 - q_out)^n <= 10^-4400 here; a mutant that drops a kept token observes 0
# where n·p >= 5100 is expected, which alone adds n·p to the statistic (deterministically > 100x the
# quantile); a mutant with the same support has noncentrality lambda = n·sum((q-p)^2/p), and the
# statistic (mean df + lambda, sd sqrt(2(df + 2 lambda))) lies >= 38 sd above the quantile. Checked by
# running each test with 10 other seeds against the reference (0 failures) and each mutant (10/10).

N_DRAWS = 120_000


def _perm(row, seed):
    return row[torch.randperm(len(row), generator=torch.Generator().manual_seed(seed))]


def _logp(probs):
    return torch.tensor(probs, dtype=torch.float64).log()


def _scenario_rows(rows, seed0):
    return torch.stack([_perm(r, seed0 + i) for i, r in enumerate(rows)])  # tokens shuffled: sorting must be undone


def _run(sub, ref, rows, dtype, seed, **settings):
    rows = rows.to(dtype)
    n = N_DRAWS // rows.shape[0]
    expected = ref.sampling_probs(rows.double(), settings["temperature"], settings["top_k"], settings["top_p"])
    props.sample_matches_distribution(sub.sample, rows, expected, n_per_group=n, seed=seed, **settings)


def test_sample_temperature_then_top_p(sub, ref):
    """temperature 0.5 then top_p 0.8, three row distributions (float64), n = 40000 draws each.

    Rows are 0.5·log(p) so that softmax(rows / 0.5) = p: kept sets {0.45,0.25,0.15}, {0.85} alone, and
    {0.22,0.19,0.16,0.13,0.12} (prefix masses 0.70/0.85, 0.85, 0.70/0.82 around p = 0.8); df = 6,
    quantile 43.3. Mutants: drops the crossing token -> lambda = 15429 (an observed 0 where 5854+ are
    expected; 62 sd above the quantile); keeps one extra token -> that token drawn w.p. >= 0.066 per row,
    P(never) = 10^-4557; temperature applied after the cut (top-p measured at temperature 1 keeps 4, 2
    and 6 tokens) -> q_out >= 0.099, P(never) = 10^-6575; mask left in sorted order -> q_out >= 0.15;
    logits * T -> q_out >= 0.24; greedy -> lambda = 144646.
    """
    rows = _scenario_rows([0.5 * _logp([0.45, 0.25, 0.15, 0.08, 0.04, 0.015, 0.008, 0.004, 0.002, 0.001]),
                           0.5 * _logp([0.85, 0.06, 0.04, 0.02, 0.01, 0.008, 0.006, 0.004, 0.001, 0.001]),
                           0.5 * _logp([0.22, 0.19, 0.16, 0.13, 0.12, 0.09, 0.05, 0.02, 0.01, 0.01])], 0)
    _run(sub, ref, rows, torch.float64, seed=101, temperature=0.5, top_k=None, top_p=0.8)


def test_sample_top_k_with_ties(sub, ref):
    """temperature 1.5 then top_k 3 on float32 logits with ties, three rows, n = 40000 draws each.

    Rows: [3,2,1,1,0,-1,-2,-3] (tie AT the k-th value: 4 tokens kept), [2.5,2.5,1,0.5,...] (tie above
    it: 3 kept), [2,1.2,0.7,0.3,...] (no tie: 3 kept); df = 7, quantile 45.7. Mutants: exactly k tokens
    (ties dropped) -> a kept token observed 0 times where 5167 are expected, lambda = 5933 (38 sd);
    threshold at sorted index k (k+1 kept) -> q_out >= 0.10 in two rows, P(never) = 10^-4418;
    logits * T -> lambda = 21779; greedy -> lambda = 136619.
    """
    rows = _scenario_rows([torch.tensor([3.0, 2, 1, 1, 0, -1, -2, -3], dtype=torch.float64),
                           torch.tensor([2.5, 2.5, 1, 0.5, 0, -1, -2, -3], dtype=torch.float64),
                           torch.tensor([2.0, 1.2, 0.7, 0.3, 0, -0.5, -1, -2], dtype=torch.float64)], 10)
    _run(sub, ref, rows, torch.float32, seed=202, temperature=1.5, top_k=3, top_p=None)


def test_sample_top_k_then_top_p(sub, ref):
    """top_k 3 then top_p 0.7 measured on the RENORMALISED top-k distribution, two rows, n = 60000 each.

    Row 1 p = [0.3,0.25,0.2,...]: top-3 renormalised [0.4,0.33,0.27], prefix 0.4/0.73 -> 2 kept; measured
    on the full distribution (prefix 0.3/0.55/0.75) it would keep 3. Row 2 [0.4,0.3,0.1,...] -> 2 kept.
    df = 2, quantile 32.2. Mutants: top-p before renormalising -> q_out = 0.27, P(never) = 10^-8082;
    crossing token dropped -> lambda = 95000; one extra -> q_out >= 0.125, P(never) = 10^-11561;
    k+1 kept -> q_out = 0.27; mask left in sorted order -> an empty kept set (NaN probabilities).
    """
    rows = _scenario_rows([_logp([0.3, 0.25, 0.2, 0.1, 0.08, 0.04, 0.02, 0.01]),
                           _logp([0.4, 0.3, 0.1, 0.08, 0.05, 0.04, 0.02, 0.01])], 20)
    _run(sub, ref, rows, torch.float64, seed=303, temperature=1.0, top_k=3, top_p=0.7)


def test_sample_temperature_only(sub, ref):
    """temperature 2 with no cut, float32 logits, two rows of 6 tokens, n = 60000 draws each.

    df = 10, quantile 52.3. Mutants: logits * T instead of / T -> lambda = 55055 (117 sd above the
    quantile); greedy -> lambda = 373130.
    """
    rows = torch.tensor([[1.0, 0.5, 0.0, -0.5, -1.0, 0.2], [0.3, -0.2, 0.8, 0.0, -1.0, 0.5]], dtype=torch.float64)
    _run(sub, ref, rows, torch.float32, seed=404, temperature=2.0, top_k=None, top_p=None)


def test_sample_draws_are_independent(sub, ref):
    """Rows are independent draws, checked directly: two row distributions p = [0.5, 0.3, 0.2] and
    q = [0.2, 0.35, 0.45] interleaved, 120 000 rows in one call; the 60 000 neighbouring pairs (2j, 2j + 1)
    against p ⊗ q (df = 8, quantile 48.0) and the 60 000 pairs half a batch apart (i, i + 60 000) against
    p ⊗ p and q ⊗ q (df = 16, quantile 64.2); every expected pair count >= 1200. The reference and an
    inverse-CDF sampler (one fresh uniform per row) passed 30 other seeds each (statistics near their df).

    Mutant (mutants/q33.toml sample_weyl_sequence): one uniform u stepped by the golden ratio, u + i·φ mod 1,
    passes every marginal test above on its own, but neighbouring draws are a function of each other: the
    pairs sit on a few cells, chi-square ~4·10^4. Its marginal counts are also too perfect (chi-square ~0.001
    where df = 6 .. 10 stays above 0.008 .. 0.13 but for 1e-8 of correct samplers).
    """
    rows = torch.stack([_logp([0.5, 0.3, 0.2]), _logp([0.2, 0.35, 0.45])])
    props.draws_are_independent(sub.sample, rows, ref.sampling_probs(rows, 1.0, None, None), n_per_group=60_000,
                                seed=505, temperature=1.0)


# --- forbidden shortcuts ----------------------------------------------------------------------------------

@pytest.mark.parametrize("function", ["softmax", "log_softmax", "cross_entropy"])
@pytest.mark.forbidden
def test_no_forbidden_calls(sub, function):
    logits = _randn(1, 2, 5)
    with no_forbidden_calls(sub, function):  # the operators it runs, then the source
        if function == "cross_entropy":
            sub.cross_entropy(logits, torch.tensor([1, 2]))
        else:
            getattr(sub, function)(logits)
            getattr(sub, function)(logits, temperature=2.0)


def test_softmax_is_a_distribution(sub):
    """Rows are non-negative and sum to 1 (float64, random temperature), independent of torch."""
    logits = _randn(31, 6, 17)
    got = sub.softmax(logits, temperature=0.8)
    assert_shape(got, (6, 17), "softmax(logits [6, 17], temperature=0.8)")
    if bool((got < 0).any()):
        fail("softmax returned a negative probability")
    assert_close(got.sum(-1), torch.ones(6, dtype=torch.float64), "softmax(...).sum(-1)",
                 hint="normalise over the last dim (the vocabulary)")
    assert_equal(int(got.argmax(-1).ne(logits.argmax(-1)).sum()), 0, "rows whose argmax moved under softmax")
    assert_close(sub.log_softmax(logits, temperature=0.8).exp(), got, "log_softmax(...).exp() against softmax(...)")


# --- trains: gradients
from grader.checks import grad  # noqa: E402


@pytest.mark.parametrize("temperature,scale", [(1.0, 1.0), (0.7, 1.0), (1.0, 50.0)])
def test_grad_log_softmax(sub, ref, temperature, scale):
    logits = grad.f64(3, 6, seed=1, scale=scale)
    grad.gradients_match(sub._vjp, ref.log_softmax, (logits, temperature), wrt=("logits",), seed=2)


@pytest.mark.parametrize("ignore_index", [-100, 0])
@pytest.mark.parametrize("lead", [(7,), (3, 5)])
def test_grad_cross_entropy(sub, ref, lead, ignore_index):
    """d(loss)/d(logits); the rows of ignored targets get exactly zero gradient."""
    logits = grad.f64(*lead, 9, seed=3 + len(lead))
    targets = _targets(len(lead), lead, 9, ignore_index)
    grad.gradients_match(sub._vjp, ref.cross_entropy, (logits, targets, ignore_index), wrt=("logits",), seed=4,
                         zero_at={"logits": (targets == ignore_index).unsqueeze(-1)})
