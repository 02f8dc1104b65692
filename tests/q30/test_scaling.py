"""Hidden suite for Q30: 12·L·d², scale_config over many configs and factors (invariants, 10% band,
balanced growth, other keys kept, input untouched), Chinchilla tokens, 6·N·D, bad arguments."""
import random

import pytest

from grader.checks import assert_equal, assert_number, expect_value_error
from grader.checks import q30 as props


def cfg(n_layers, n_heads, head_dim, **extra):
    return {"n_layers": n_layers, "d_model": n_heads * head_dim, "n_heads": n_heads, "head_dim": head_dim, **extra}


NAMED = {
    "gpt2-small": cfg(12, 12, 64, vocab_size=50257, n_ctx=1024),
    "gpt2-medium": cfg(24, 16, 64, vocab_size=50257, n_ctx=1024),
    "gpt2-large": cfg(36, 20, 64, vocab_size=50257, n_ctx=1024),
    "gpt2-xl": cfg(48, 25, 64, vocab_size=50257, n_ctx=1024),
    "llama-7b": cfg(32, 32, 128, vocab_size=32000, n_ctx=4096, name="llama-2-7b"),
    "tiny": cfg(2, 4, 16),
    "one-layer-one-head": cfg(1, 1, 32),
    "shallow-wide": cfg(3, 40, 64),
    "deep-narrow": cfg(40, 2, 32),
    "odd-head-dim": cfg(7, 6, 80),
}
FACTORS = [2, 5, 10, 30]


@pytest.mark.parametrize("factor", FACTORS)
@pytest.mark.parametrize("name", list(NAMED))
def test_named_configs(sub, name, factor):
    props.check_scaled(sub.scale_config, NAMED[name], factor)


@pytest.mark.parametrize("factor", [5, 10, 30])
@pytest.mark.parametrize("name", [n for n, c in NAMED.items() if c["n_layers"] >= 4 and c["n_heads"] >= 4])
def test_balanced_growth(sub, name, factor):
    new = props.check_scaled(sub.scale_config, NAMED[name], factor)
    props.check_balanced(NAMED[name], new, factor)


@pytest.mark.parametrize("seed", range(4))
def test_random_configs_integer_factors(sub, seed):
    rng = random.Random(seed)
    for _ in range(40):
        config = cfg(rng.randint(1, 48), rng.randint(1, 64), rng.choice([16, 32, 64, 80, 96, 128]))
        factor = rng.choice(FACTORS)
        new = props.check_scaled(sub.scale_config, config, factor)
        if factor >= 4 and config["n_layers"] >= 4 and config["n_heads"] >= 4:
            props.check_balanced(config, new, factor)


@pytest.mark.parametrize("seed", range(2))
def test_random_configs_fractional_factors(sub, seed):
    rng = random.Random(100 + seed)
    for _ in range(40):
        config = cfg(rng.randint(5, 48), rng.randint(1, 64), rng.choice([32, 64, 128]))
        factor = round(rng.uniform(1.0, 40.0), 3)
        new = props.check_scaled(sub.scale_config, config, factor)
        if factor >= 4 and config["n_heads"] >= 4:
            props.check_balanced(config, new, factor)


def test_factor_one_keeps_the_size(sub):
    for config in NAMED.values():
        props.check_scaled(sub.scale_config, config, 1, within=0.05)


def test_other_keys_kept_and_input_untouched(sub):
    config = cfg(12, 12, 64, vocab_size=50257, n_ctx=1024, name="gpt2", tied=True, dropout=0.1)
    new = props.check_scaled(sub.scale_config, config, 10)
    assert_equal(sorted(new), sorted(config), "the keys of scale_config(...)'s result",
                 hint="return a copy of config with the four sizes changed, nothing added or dropped")


SIZES = [(1, 1), (12, 768), (24, 1024), (48, 1600), (32, 4096), (80, 8192), (7, 333)]


@pytest.mark.parametrize("n_layers,d_model", SIZES)
def test_approx_params(sub, n_layers, d_model):
    assert_equal(sub.approx_params(n_layers, d_model), 12 * n_layers * d_model**2,
                 f"approx_params({n_layers}, {d_model})", hint="attention 4·d² + MLP 8·d² per layer")


@pytest.mark.parametrize("n_params", [1, 124e6, 7e9, 70e9, 405e9])
def test_chinchilla_tokens(sub, n_params):
    assert_number(sub.chinchilla_tokens(n_params), 20 * n_params, f"chinchilla_tokens({n_params:g})",
                  rel=1e-12, hint="about 20 training tokens per parameter")


@pytest.mark.parametrize("n_params,n_tokens", [(1, 1), (124e6, 2.48e9), (7e9, 2e12), (70e9, 1.4e12), (405e9, 15.6e12)])
def test_training_flops(sub, n_params, n_tokens):
    assert_number(sub.training_flops(n_params, n_tokens), 6 * n_params * n_tokens,
                  f"training_flops({n_params:g}, {n_tokens:g})", rel=1e-12,
                  hint="forward 2·N per token, backward 4·N: 6·N·D")


def test_chinchilla_compute(sub):
    # Chinchilla itself: 70B parameters on 1.4T tokens is about 5.9e23 FLOPs.
    n = 70e9
    tokens = sub.chinchilla_tokens(n)
    assert_number(tokens, 1.4e12, "chinchilla_tokens(70e9)", rel=1e-12)
    assert_number(sub.training_flops(n, tokens), 5.88e23, "training_flops(70e9, chinchilla_tokens(70e9))", rel=1e-12)


BAD_APPROX = [((0, 768), "n_layers"), ((-1, 768), "n_layers"), ((2.5, 768), "n_layers"), ((12, 0), "d_model"),
              ((12, 76.8), "d_model")]


@pytest.mark.parametrize("args,name", BAD_APPROX)
def test_approx_params_bad_arguments(sub, args, name):
    assert_equal(sub.approx_params(12, 768), 84_934_656, "approx_params(12, 768) (valid arguments)")
    expect_value_error(sub.approx_params, *args, what=f"approx_params{args}", mentions=(name,))


@pytest.mark.parametrize("factor", [0.5, 0, -10, float("nan"), float("inf")])
def test_scale_config_bad_factor(sub, factor):
    props.check_scaled(sub.scale_config, NAMED["gpt2-small"], 10)
    expect_value_error(sub.scale_config, NAMED["gpt2-small"], factor, what=f"scale_config(gpt2-small, {factor})",
                       mentions=("factor",))


BAD_CONFIGS = [({"n_layers": 12, "d_model": 768, "n_heads": 12}, ("head_dim", "config")),
               (cfg(12, 12, 64) | {"d_model": 700}, ("d_model", "head_dim", "n_heads", "config")),
               (cfg(12, 12, 64) | {"n_layers": 0}, ("n_layers", "config")),
               (cfg(12, 12, 64) | {"n_layers": 12.0}, ("n_layers", "config"))]


@pytest.mark.parametrize("config,mentions", BAD_CONFIGS, ids=["missing head_dim", "d_model != heads·head_dim",
                                                               "zero layers", "float layers"])
def test_scale_config_bad_config(sub, config, mentions):
    props.check_scaled(sub.scale_config, NAMED["tiny"], 10)
    expect_value_error(sub.scale_config, config, 10, what=f"scale_config({config}, 10)", mentions=mentions)


BAD_NUMBERS = [("chinchilla_tokens", (0,), "n_params"), ("chinchilla_tokens", (-7e9,), "n_params"),
               ("training_flops", (0, 1e9), "n_params"), ("training_flops", (7e9, -1), "n_tokens")]


@pytest.mark.parametrize("fn,args,name", BAD_NUMBERS)
def test_tokens_and_flops_bad_arguments(sub, fn, args, name):
    good = {"chinchilla_tokens": ((7e9,), 1.4e11), "training_flops": ((7e9, 1.4e11), 5.88e21)}[fn]
    assert_number(getattr(sub, fn)(*good[0]), good[1], f"{fn}{good[0]} (valid arguments)", rel=1e-12)
    expect_value_error(getattr(sub, fn), *args, what=f"{fn}{args}", mentions=(name,))
