"""Self-check for Q24. Run: pytest exercises/q24"""
import torch

from grader.checks import assert_equal, expect_value_error
from grader.checks import q24 as props


def _model(given, **kw):
    return given("q24", "tiny_gpt").TinyGPT(**kw)


def _prompt(B, T, seed):
    return torch.randint(0, 256, (B, T), generator=torch.Generator().manual_seed(seed))


def test_first_tokens_are_greedy(sub, given):
    # The oracle runs torch's scaled_dot_product_attention over the whole sequence.
    model = _model(given, n_layers=2, d_model=64, seed=1, dtype="float64")
    prompt = _prompt(1, 5, 0)
    for use_cache in (False, True):
        props.greedy_consistent(sub.generate_greedy(model, prompt, 6, use_cache=use_cache), model, prompt, 6,
                                f"generate_greedy(model, prompt (1, 5), 6, use_cache={use_cache})")


def test_cache_changes_nothing(sub, given):
    model = _model(given, n_layers=2, d_model=64, seed=2, dtype="float64")
    props.cached_matches_uncached(sub.generate_greedy, model, _prompt(2, 4, 1), 12)


def test_batch_rows_do_not_mix(sub, given):
    model = _model(given, n_layers=2, d_model=64, seed=3, dtype="float64")
    props.rows_independent(sub.generate_greedy, model, _prompt(3, 4, 2), 8, use_cache=True)


def test_zero_new_tokens(sub, given):
    out = sub.generate_greedy(_model(given, n_layers=1, d_model=64), _prompt(2, 3, 3), 0, use_cache=True)
    assert_equal(tuple(out.shape), (2, 0), "generate_greedy(..., n_new=0).shape")


def test_flops_hand_worked(sub):
    props.flops_hand_worked(sub.decode_flops)


def test_flops_growth(sub):
    props.flops_growth(sub.decode_flops)


def test_bad_arguments(sub, given):
    model = _model(given, n_layers=1, d_model=64)
    expect_value_error(sub.generate_greedy, model, torch.tensor([1, 2, 3]), 2, use_cache=True,
                       what="generate_greedy with a 1-D prompt", mentions=("prompt",))
    expect_value_error(sub.generate_greedy, model, _prompt(1, 3, 0), -1, use_cache=True,
                       what="generate_greedy with n_new=-1", mentions=("n_new",))
    expect_value_error(sub.decode_flops, 0, 64, 3, 2, True, what="decode_flops(n_layers=0, ...)",
                       mentions=("n_layers",))
