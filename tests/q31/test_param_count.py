"""Hidden suite for Q31: counts and shapes against a torch model built from the config (meta device),
the published totals, every combination of the options, random sizes, return types, bad configs."""
import dataclasses
import itertools
import math
import random

import pytest

from grader.checks import assert_equal, expect_value_error
from grader.checks import q31 as props

PUBLISHED = {"gpt2_small": 124_439_808, "gpt2_medium": 354_823_168, "gpt2_large": 774_030_080,
             "gpt2_xl": 1_557_611_200, "llama2_7b": 6_738_415_616, "llama3_8b": 8_030_261_248}


@pytest.fixture
def M(given):
    return given("q31", "model_config").ModelConfig


@pytest.mark.parametrize("name", list(PUBLISHED))
def test_published_totals(sub, M, name):
    props.check_count(sub.count_params, getattr(M, name)(), PUBLISHED[name])


@pytest.mark.parametrize("name", list(PUBLISHED))
def test_published_shapes(sub, M, name):
    props.check_shapes(sub.weight_shapes, getattr(M, name)())


OPTIONS = list(itertools.product(["layernorm", "rmsnorm"], ["gelu", "swiglu"], [True, False], [True, False],
                                 ["learned", "rope"]))


@pytest.mark.parametrize("kv_heads", [6, 2, 1], ids=["mha", "gqa", "mqa"])
@pytest.mark.parametrize("norm,mlp,bias,tied,positions", OPTIONS,
                         ids=["-".join(map(str, o)) for o in OPTIONS])
def test_every_option_combination(sub, M, norm, mlp, bias, tied, positions, kv_heads):
    cfg = M(vocab_size=101, n_ctx=37, d_model=48, n_layers=3, n_heads=6, n_kv_heads=kv_heads, d_ff=88,
            norm=norm, mlp=mlp, bias=bias, tied_embeddings=tied, positions=positions)
    props.check_count(sub.count_params, cfg)
    props.check_shapes(sub.weight_shapes, cfg)


def random_config(M, rng: random.Random):
    n_heads = rng.choice([1, 2, 3, 4, 6, 8, 12, 16])
    head_dim = rng.choice([8, 16, 32, 64, 128])
    n_kv_heads = rng.choice([k for k in range(1, n_heads + 1) if n_heads % k == 0])
    return M(vocab_size=rng.randint(2, 200_000), n_ctx=rng.randint(1, 32_768), d_model=n_heads * head_dim,
             n_layers=rng.randint(1, 24), n_heads=n_heads, n_kv_heads=n_kv_heads, d_ff=rng.randint(1, 30_000),
             norm=rng.choice(["layernorm", "rmsnorm"]), mlp=rng.choice(["gelu", "swiglu"]), bias=rng.random() < 0.5,
             tied_embeddings=rng.random() < 0.5, positions=rng.choice(["learned", "rope"]))


@pytest.mark.parametrize("seed", range(4))
def test_random_configs(sub, M, seed):
    rng = random.Random(seed)
    for _ in range(6):
        cfg = random_config(M, rng)
        props.check_count(sub.count_params, cfg)
        props.check_shapes(sub.weight_shapes, cfg)


def test_tying_saves_exactly_one_matrix(sub, M):
    for name in ("gpt2_small", "llama2_7b"):
        cfg = getattr(M, name)()
        tied, untied = (sub.count_params(dataclasses.replace(cfg, tied_embeddings=t)) for t in (True, False))
        assert_equal(untied - tied, cfg.vocab_size * cfg.d_model, f"count(untied) - count(tied) for {name}",
                     hint="an untied LM head adds one [d_model, vocab_size] matrix, nothing else")


def test_gqa_saves_key_value_weights(sub, M):
    cfg = M.llama3_8b()
    mha = sub.count_params(dataclasses.replace(cfg, n_kv_heads=32))
    gqa = sub.count_params(cfg)
    assert_equal(mha - gqa, cfg.n_layers * 2 * cfg.d_model * (32 - 8) * cfg.head_dim,
                 "count(Llama-3-8B with 32 kv heads) - count(with 8)",
                 hint="W_k and W_v map d_model to n_kv_heads·head_dim")


def test_shapes_add_up_to_the_count(sub, M):
    for name in ("gpt2_small", "llama3_8b"):
        cfg = getattr(M, name)()
        total = sum(math.prod(s) for s in sub.weight_shapes(cfg).values())
        assert_equal(total, sub.count_params(cfg), f"the sum of weight_shapes({name})'s sizes vs count_params({name})")


BAD = [("d_model", 770, ("d_model", "n_heads")), ("n_heads", 7, ("n_heads", "d_model")),
       ("n_kv_heads", 5, ("n_kv_heads", "n_heads")), ("n_layers", 0, ("n_layers",)), ("vocab_size", -1, ("vocab_size",)),
       ("norm", "batchnorm", ("norm",)), ("mlp", "relu", ("mlp",)), ("positions", "alibi", ("positions",)),
       # every size is checked, also those a count only multiplies by, and a zero divisor is a ValueError
       ("n_ctx", 0, ("n_ctx",)), ("d_ff", 0, ("d_ff",)), ("n_heads", 0, ("n_heads",)), ("n_kv_heads", 0, ("n_kv_heads",))]


@pytest.mark.parametrize("field,value,mentions", BAD, ids=[f"{b[0]}={b[1]}" for b in BAD])
@pytest.mark.parametrize("fn", ["count_params", "weight_shapes"])
def test_bad_config(sub, M, fn, field, value, mentions):
    props.check_count(sub.count_params, M.gpt2_small(), PUBLISHED["gpt2_small"])  # a valid config is accepted
    props.check_shapes(sub.weight_shapes, M.gpt2_small())
    cfg = dataclasses.replace(M.gpt2_small(), **{field: value})
    expect_value_error(getattr(sub, fn), cfg, what=f"{fn}(gpt2_small with {field}={value!r})", mentions=mentions)
