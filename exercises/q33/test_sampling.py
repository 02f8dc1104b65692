"""Self-check for Q33. Run: pytest exercises/q33"""
import math

import torch

from grader.checks import assert_close, expect_value_error, fail
from grader.checks import q33 as props

P = torch.tensor([0.5, 0.3, 0.15, 0.05], dtype=torch.float64)
LOGITS = P.log()


def test_softmax_by_hand(sub):
    assert_close(sub.softmax(LOGITS), P, "softmax(log([0.5, 0.3, 0.15, 0.05]))")
    assert_close(sub.softmax(LOGITS, temperature=0.5), P ** 2 / (P ** 2).sum(),
                 "softmax(log p, temperature=0.5)", hint="divide the logits by the temperature: here p² / Σp²")
    assert_close(sub.log_softmax(LOGITS), LOGITS, "log_softmax(log p)")


def test_matches_torch(sub):
    g = torch.Generator().manual_seed(0)
    for dtype in (torch.float32, torch.float64):
        logits = (3 * torch.randn(2, 3, 7, generator=g, dtype=torch.float64)).to(dtype)
        props.matches_torch_softmax(sub.softmax, sub.log_softmax, logits)
        props.matches_torch_softmax(sub.softmax, sub.log_softmax, logits, temperature=0.7)


def test_stable_at_1e4(sub):
    got = sub.softmax(torch.tensor([1e4, 0.0], dtype=torch.float64))
    assert_close(got, torch.tensor([1.0, 0.0], dtype=torch.float64), "softmax([1e4, 0])",
                 hint="subtract the max first: exp(1e4) overflows to inf and inf/inf is NaN")
    got = sub.log_softmax(torch.tensor([1e4, -1e4], dtype=torch.float64))
    assert_close(got, torch.tensor([0.0, -2e4], dtype=torch.float64), "log_softmax([1e4, -1e4])",
                 hint="(x - max) - log(sum(exp(x - max))); log(softmax) gives log(0) = -inf here")
    logits = 1e4 * torch.randn(3, 8, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    props.matches_torch_softmax(sub.softmax, sub.log_softmax, logits, what="spread over +-1e4")


def test_cross_entropy_by_hand(sub):
    props.uniform_cross_entropy(sub.cross_entropy, 4)
    logits = torch.stack([LOGITS, LOGITS, LOGITS])
    got = sub.cross_entropy(logits, torch.tensor([0, 1, -100]))
    expected = torch.tensor(-(math.log(0.5) + math.log(0.3)) / 2, dtype=torch.float64)
    assert_close(got, expected, "cross_entropy(log p rows, targets [0, 1, -100])",
                 hint="mean over the 2 targets that are not ignore_index")


def test_cross_entropy_matches_torch(sub):
    g = torch.Generator().manual_seed(2)
    logits = 2 * torch.randn(3, 5, 6, generator=g, dtype=torch.float64)
    targets = torch.randint(0, 6, (3, 5), generator=g)
    targets[0, :2] = -100
    props.cross_entropy_matches_torch(sub.cross_entropy, logits, targets)
    props.cross_entropy_matches_torch(sub.cross_entropy, logits, targets.clamp_min(0), ignore_index=0)


def test_cross_entropy_all_ignored_is_nan(sub):
    got = sub.cross_entropy(torch.zeros(2, 5), torch.full((2,), -100))
    if not (isinstance(got, torch.Tensor) and bool(torch.isnan(got))):
        fail(f"cross_entropy with every target ignored returned {got!r}, expected NaN (0/0, as torch)")


def test_sampling_probs_by_hand(sub):
    z = 0.0
    cases = [({"top_k": 3}, [0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95, z]),
             ({"top_p": 0.7}, [0.625, 0.375, z, z]),  # 0.5 < 0.7; 0.5 + 0.3 reaches it: keep the crossing token
             ({"top_p": 0.5}, [1.0, z, z, z]),  # the first token alone reaches 0.5
             ({"top_k": 3, "top_p": 0.9}, [0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95, z]),  # renormalised: 0.842 < 0.9
             ({"top_k": 2, "top_p": 0.6}, [1.0, z, z, z]),  # renormalised top-2: 0.625 already reaches 0.6
             ({"temperature": 0.0}, [1.0, z, z, z]),
             ({"top_k": 0, "top_p": 1.0}, P.tolist())]
    for kwargs, expected in cases:
        assert_close(sub.sampling_probs(LOGITS, **kwargs), torch.tensor(expected, dtype=torch.float64),
                     f"sampling_probs(log([0.5, 0.3, 0.15, 0.05]), {kwargs})",
                     hint="temperature, then top-k, then top-p on the renormalised distribution, keeping the "
                          "token that crosses p")


def test_top_k_keeps_ties(sub):
    logits = torch.tensor([1.0, 3.0, 2.0, 2.0, 0.0], dtype=torch.float64)
    e = torch.tensor([0.0, math.e ** 3, math.e ** 2, math.e ** 2, 0.0], dtype=torch.float64)
    assert_close(sub.sampling_probs(logits, top_k=2), e / e.sum(), "sampling_probs([1, 3, 2, 2, 0], top_k=2)",
                 hint="ties at the k-th value are all kept: here 3 tokens")


def test_sample_greedy(sub):
    logits = torch.tensor([[0.1, 2.0, -1.0], [3.0, 0.0, 2.9]])
    got = sub.sample(logits, temperature=0.0)
    assert_close(got, torch.tensor([1, 0]), "sample(logits [2, 3], temperature=0)", hint="temperature 0 is the argmax")
    one = sub.sample(logits[0], top_k=1, generator=torch.Generator().manual_seed(0))
    assert_close(one, torch.tensor(1), "sample(logits [3], top_k=1)", hint="logits [V] -> a 0-dim LongTensor")


def test_sample_frequencies(sub):
    """20000 draws per row in one call each; a correct sampler fails each call with probability 1e-7 (chi-square)."""
    rows = torch.stack([LOGITS, LOGITS[[2, 0, 3, 1]]])  # the same p, tokens shuffled in row 2
    expected = torch.tensor([[0.625, 0.375, 0, 0], [0, 0.625, 0, 0.375]], dtype=torch.float64)
    props.sample_matches_distribution(sub.sample, rows, expected, n_per_group=20000, seed=0, top_p=0.7)
    sharp = P ** 2 / (P[:3] ** 2).sum()
    sharp[3] = 0
    props.sample_matches_distribution(sub.sample, LOGITS[None], sharp[None], n_per_group=20000, seed=1,
                                      temperature=0.5, top_k=3)


def test_same_seed_same_samples(sub):
    props.same_seed_same_samples(sub.sample, torch.randn(500, 6, generator=torch.Generator().manual_seed(3)),
                                 seed=7, temperature=1.2, top_p=0.9)


def test_bad_arguments(sub):
    expect_value_error(sub.softmax, LOGITS, temperature=0.0, what="softmax(logits, temperature=0)",
                       mentions=("temperature",))
    expect_value_error(sub.sampling_probs, LOGITS, top_p=1.5, what="sampling_probs(logits, top_p=1.5)",
                       mentions=("top_p",))
    expect_value_error(sub.sample, LOGITS, top_k=-1, what="sample(logits, top_k=-1)", mentions=("top_k",))
    expect_value_error(sub.cross_entropy, torch.zeros(2, 4), torch.tensor([0, 4]),
                       what="cross_entropy with a target = V", mentions=("target",))
