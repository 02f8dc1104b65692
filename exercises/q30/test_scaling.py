"""Self-check for Q30. Run: pytest exercises/q30"""
import pytest

from grader.checks import assert_equal, assert_number, expect_value_error
from grader.checks import q30 as props

GPT2_SMALL = {"n_layers": 12, "d_model": 768, "n_heads": 12, "head_dim": 64, "vocab_size": 50257, "n_ctx": 1024}


def test_approx_params_by_hand(sub):
    # per layer 4·d² (attention) + 8·d² (MLP d -> 4d -> d) = 12·d²; 12 layers of d = 768:
    assert_equal(sub.approx_params(12, 768), 84_934_656, "approx_params(12, 768)", hint="12 · n_layers · d_model²")
    assert_equal(sub.approx_params(1, 10), 1200, "approx_params(1, 10)")


@pytest.mark.parametrize("factor", [2, 10, 30])
def test_scale_gpt2_small(sub, factor):
    new = props.check_scaled(sub.scale_config, GPT2_SMALL, factor)
    if factor >= 4:
        props.check_balanced(GPT2_SMALL, new, factor)


def test_scale_a_tiny_model(sub):
    tiny = {"n_layers": 2, "d_model": 64, "n_heads": 4, "head_dim": 16}
    for factor in (2, 5, 10):
        props.check_scaled(sub.scale_config, tiny, factor)


def test_chinchilla_and_flops_by_hand(sub):
    assert_number(sub.chinchilla_tokens(7e9), 1.4e11, "chinchilla_tokens(7e9)", hint="20 tokens per parameter")
    assert_number(sub.training_flops(7e9, 1.4e11), 5.88e21, "training_flops(7e9, 1.4e11)", hint="6·N·D")


def test_bad_arguments(sub):
    expect_value_error(sub.approx_params, 0, 768, what="approx_params(0, 768)", mentions=("n_layers",))
    expect_value_error(sub.scale_config, GPT2_SMALL, 0.5, what="scale_config(..., 0.5)", mentions=("factor",))
    broken = dict(GPT2_SMALL, n_heads=10)
    expect_value_error(sub.scale_config, broken, 10, what="scale_config with n_heads·head_dim != d_model",
                       mentions=("d_model", "head_dim", "n_heads", "config"))
