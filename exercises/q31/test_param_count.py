"""Self-check for Q31. Run: pytest exercises/q31"""
import dataclasses

import pytest
import torch

from grader.checks import assert_equal, expect_value_error
from grader.checks import q31 as props

PUBLISHED = {"gpt2_small": 124_439_808, "gpt2_medium": 354_823_168, "llama2_7b": 6_738_415_616}


@pytest.fixture
def M(given):
    return given("q31", "model_config").ModelConfig


@pytest.mark.parametrize("name", list(PUBLISHED))
def test_published_totals(sub, M, name):
    props.check_count(sub.count_params, getattr(M, name)(), PUBLISHED[name])


def test_gpt2_small_shapes(sub, M):
    props.check_shapes(sub.weight_shapes, M.gpt2_small())


def test_gqa_shapes_by_hand(sub, M):
    shapes = sub.weight_shapes(M.llama3_8b())
    assert_equal(tuple(shapes["layers.0.attn.w_k"]), (4096, 1024), 'weight_shapes(llama3_8b)["layers.0.attn.w_k"]',
                 hint="8 kv heads × head_dim 128: W_k maps d_model to n_kv_heads·head_dim")
    assert_equal(tuple(shapes["lm_head"]), (4096, 128256), 'weight_shapes(llama3_8b)["lm_head"]',
                 hint="untied: [d_model, vocab_size], applied as x @ W")


def test_counts_a_working_model(sub, M):
    # A tiny Llama-style model that really runs: its parameter count is the truth.
    cfg = M(vocab_size=97, n_ctx=32, d_model=48, n_layers=2, n_heads=6, n_kv_heads=2, d_ff=80, norm="rmsnorm",
            mlp="swiglu", bias=True, tied_embeddings=False, positions="rope")
    model = props.TorchDecoder(cfg, device="cpu")
    logits = model(torch.randint(0, cfg.vocab_size, (2, 5), generator=torch.Generator().manual_seed(0)))
    assert tuple(logits.shape) == (2, 5, cfg.vocab_size)
    props.check_count(sub.count_params, cfg)
    props.check_shapes(sub.weight_shapes, cfg)
    props.check_count(sub.count_params, dataclasses.replace(cfg, tied_embeddings=True, bias=False))


def test_bad_config(sub, M):
    bad = dataclasses.replace(M.gpt2_small(), n_heads=7)
    expect_value_error(sub.count_params, bad, what="count_params with d_model=768, n_heads=7",
                       mentions=("n_heads", "d_model"))
