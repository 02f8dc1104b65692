"""Self-check for Q27. Run: pytest exercises/q27

Oracles: hand-worked values, torch.nn.functional (gelu, silu, linear) and real nn.Linear layers."""
import math

import torch

from grader.checks import assert_close, assert_equal, expect_value_error
from grader.checks import q27 as props

f64 = torch.float64


def test_gelu_by_hand(sub):
    # exact GELU is x * Phi(x): Phi(0) = 1/2, Phi(1) = 0.8413447460685429
    x = torch.tensor([0.0, 1.0, -1.0], dtype=f64)
    phi1 = 0.5 * (1 + math.erf(1 / math.sqrt(2)))
    assert_close(sub.gelu(x), torch.tensor([0.0, phi1, -(1 - phi1)], dtype=f64), "gelu([0, 1, -1])",
                 hint="x * Phi(x), Phi the standard normal CDF = 0.5 * (1 + erf(x / sqrt(2)))")


def test_gelu_matches_torch(sub):
    g = torch.Generator().manual_seed(0)
    for dtype in (torch.float32, f64):
        x = torch.cat([torch.randn(3, 50, generator=g, dtype=dtype).reshape(-1) * 4,
                       torch.tensor([-1e4, -30.0, 30.0, 1e4], dtype=dtype)])
        for approximate in ("none", "tanh"):
            props.gelu_matches_torch(sub.gelu, x, approximate)


def test_ffn_by_hand(sub):
    # d_model = 2, d_ff = 3, relu: h = x @ w1 + b1 = [1, -2, 3] -> relu [1, 0, 3]; out = [1, 0, 3] @ w2 + b2
    x = torch.tensor([1.0, 2.0], dtype=f64)
    w1 = torch.tensor([[1.0, 0.0, 1.0], [0.0, -1.0, 1.0]], dtype=f64)   # [d_model=2, d_ff=3]
    b1 = torch.tensor([0.0, 0.0, 0.0], dtype=f64)
    w2 = torch.tensor([[1.0, 0.0], [5.0, 5.0], [0.0, 1.0]], dtype=f64)  # [d_ff=3, d_model=2]
    b2 = torch.tensor([0.5, -0.5], dtype=f64)
    assert_close(sub.ffn(x, w1, b1, w2, b2, "relu"), torch.tensor([1.5, 2.5], dtype=f64), "ffn(x=[1, 2], ..., 'relu')",
                 hint="weights are [in, out]: h = x @ w1 + b1, then relu, then @ w2 + b2")


def test_ffns_match_torch(sub):
    g = torch.Generator().manual_seed(1)
    for dtype in (torch.float32, f64):
        for lead in ((), (4,), (2, 3)):
            x = torch.randn(*lead, 6, generator=g, dtype=dtype)
            w1 = torch.randn(6, 16, generator=g, dtype=dtype) / 3
            w2 = torch.randn(16, 6, generator=g, dtype=dtype) / 4
            b1, b2 = torch.randn(16, generator=g, dtype=dtype), torch.randn(6, generator=g, dtype=dtype)
            w_up = torch.randn(6, 16, generator=g, dtype=dtype) / 3
            for activation in ("gelu", "relu"):
                props.ffn_matches_torch(sub.ffn, x, w1, b1, w2, b2, activation)
            props.ffn_matches_torch(sub.ffn, x, w1, None, w2, None, "gelu")
            props.swiglu_matches_torch(sub.swiglu_ffn, x, w1, w_up, w2)


def test_position_wise(sub):
    g = torch.Generator().manual_seed(2)
    x = torch.randn(2, 5, 6, generator=g, dtype=f64)
    w1, w_up = torch.randn(6, 16, generator=g, dtype=f64), torch.randn(6, 16, generator=g, dtype=f64)
    w2, b1, b2 = torch.randn(16, 6, generator=g, dtype=f64), torch.randn(16, dtype=f64), torch.randn(6, dtype=f64)
    props.position_wise(lambda t: sub.ffn(t, w1, b1, w2, b2, "gelu"), x, "ffn")
    props.position_wise(lambda t: sub.swiglu_ffn(t, w1, w_up, w2), x, "swiglu_ffn")


def test_param_counts(sub):
    # GPT-2 small's FFN: 2·768·3072 + 3072 + 768 = 4,722,432; Llama-2-7B's: 3·4096·11008 = 135,266,304
    assert_equal(sub.ffn_params(768, 3072, False), 4_722_432, "ffn_params(768, 3072, gated=False) (GPT-2 small)")
    assert_equal(sub.ffn_params(4096, 11008, True), 135_266_304, "ffn_params(4096, 11008, gated=True) (Llama-2-7B)")
    props.params_match_torch(sub.ffn_params, 64, 172)


def test_bad_arguments(sub):
    expect_value_error(sub.gelu, torch.zeros(2), "fast", what='gelu(x, "fast")', mentions=("approximate",))
    expect_value_error(sub.ffn, torch.randn(3, 8), torch.randn(7, 16), None, torch.randn(16, 8), None,
                       what="ffn with w1 of 7 rows for d_model = 8", mentions=("w1",))
