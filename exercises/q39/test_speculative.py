"""Self-check for Q39. Run: pytest exercises/q39"""
import torch

from grader.checks import assert_equal, assert_number, assert_true, expect_value_error
from grader.checks import q39 as props

PROMPT = torch.tensor([1, 2, 3])


def test_step_by_hand(sub):
    # p_0 == q_0 accepts draft 0 for sure; p_1(0) = 0 rejects draft 1 for sure; the residual
    # max(0, p_1 - q_1) = [0, 0, 0.5, 0] can only give token 2. Also: all accepted + bonus, gamma = 0.
    props.deterministic_cases(sub.speculative_step)


def test_step_example_from_the_readme(sub):
    p = torch.tensor([[0.6, 0.3, 0.1], [1.0, 0.0, 0.0]], dtype=torch.float64)
    q = torch.tensor([[0.2, 0.3, 0.5]], dtype=torch.float64)
    g = torch.Generator().manual_seed(0)
    outs = [sub.speculative_step(p, q, torch.tensor([2]), g).tolist() for _ in range(400)]
    assert_true(all(o in ([2, 0], [0]) for o in outs),
                f"drafting token 2 must give [2, 0] (accepted + bonus) or [0] (rejected: residual [0.4, 0, 0]); "
                f"got {sorted(set(map(tuple, outs)))}")
    accepted = sum(o == [2, 0] for o in outs) / len(outs)
    assert_true(0.1 < accepted < 0.3, f"draft 2 was accepted in {accepted:.0%} of 400 steps; expected about "
                                      f"min(1, 0.1/0.5) = 20%")


def test_step_keeps_the_target_distribution(sub):
    props.check_step_distribution(sub.speculative_step, n_trials=1500, seed=1)


def test_expected_tokens_per_step(sub):
    assert_number(sub.expected_tokens_per_step(0.5, 2), 1.75, "expected_tokens_per_step(0.5, 2)",
                  hint="1 + 0.5 + 0.25")
    assert_number(sub.expected_tokens_per_step(0.8, 4), (1 - 0.8 ** 5) / 0.2, "expected_tokens_per_step(0.8, 4)")
    assert_number(sub.expected_tokens_per_step(1.0, 4), 5.0, "expected_tokens_per_step(1.0, 4)",
                  hint="alpha = 1: every draft accepted plus the bonus")
    assert_number(sub.expected_tokens_per_step(0.0, 4), 1.0, "expected_tokens_per_step(0.0, 4)")


def test_greedy_generate_matches_target_with_fewer_calls(sub):
    tg, dr, pb = props.greedy_models(0, 16, 0.75)
    calls = [0]
    got = sub.speculative_generate(props.trigram_model(tg, pb, calls), props.trigram_model(dr, pb), PROMPT, 40, 4)
    expected = props.greedy_reference_tokens(props.trigram_model(tg, pb), PROMPT, 40)
    assert_equal(got, torch.tensor(expected), "speculative_generate(greedy, gamma=4, n_new=40)")
    assert_true(calls[0] < 40, f"the target was called {calls[0]} times for 40 tokens; it should be called "
                               f"fewer times than tokens are emitted")


def test_sampling_generate_keeps_the_target_distribution(sub):
    props.check_generate_distribution(sub.speculative_generate, n_trials=600, seed=2)


def test_bad_shapes(sub):
    p = torch.full((3, 4), 0.25)
    expect_value_error(sub.speculative_step, p, torch.full((3, 4), 0.25), torch.tensor([0, 1, 2]),
                       torch.Generator().manual_seed(0), what="target_probs with gamma rows instead of gamma + 1",
                       mentions=("target_probs",))
    expect_value_error(sub.expected_tokens_per_step, 1.5, 2, what="expected_tokens_per_step(1.5, 2)",
                       mentions=("alpha",))
