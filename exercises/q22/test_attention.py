"""Self-check for Q22. Run: pytest exercises/q22

torch's own torch.nn.functional.scaled_dot_product_attention is the oracle here (see grader/checks/q22.py).
"""
import math

import torch

from grader.checks import assert_close, expect_value_error
from grader.checks import q22 as props


def test_by_hand(sub):
    # two keys with scores 0 and 2*sqrt(2)/sqrt(2) = 2 after scaling (d_k = 2)
    q = torch.tensor([[1.0, 1.0]], dtype=torch.float64)
    k = torch.tensor([[0.0, 0.0], [math.sqrt(2), math.sqrt(2)]], dtype=torch.float64)
    v = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    out, weights = sub.scaled_dot_product_attention(q, k, v)
    e = math.exp(2.0)
    want = torch.tensor([[1 / (1 + e), e / (1 + e)]], dtype=torch.float64)
    assert_close(weights, want, "weights for scores [0, 2] (d_k = 2)", hint="divide q @ k^T by sqrt(d_k)")
    assert_close(out, want, "out (v is the identity, so out = weights)")


def test_matches_torch(sub):
    g = torch.Generator().manual_seed(0)
    for dtype in (torch.float32, torch.float64):
        q = torch.randn(2, 3, 5, 8, generator=g, dtype=dtype)
        k = torch.randn(2, 3, 7, 8, generator=g, dtype=dtype)
        v = torch.randn(2, 3, 7, 4, generator=g, dtype=dtype)
        props.matches_torch(sub.scaled_dot_product_attention, q, k, v)
        props.matches_torch(sub.scaled_dot_product_attention, q, k, v, torch.rand(5, 7, generator=g) > 0.3)


def test_fully_masked_row_is_zero(sub):
    g = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(3, 4, generator=g) for _ in range(3))
    mask = torch.tensor([[True, False, False], [False, False, False], [True, True, True]])
    props.weights_are_distributions(sub.scaled_dot_product_attention, q, k, v, mask)


def test_multi_head_matches_per_head_oracle(sub):
    g = torch.Generator().manual_seed(2)
    x = torch.randn(2, 6, 12, generator=g, dtype=torch.float64)
    ws = [torch.randn(12, 12, generator=g, dtype=torch.float64) / math.sqrt(12) for _ in range(4)]
    for causal in (True, False):
        props.mha_matches_heads(sub.multi_head_attention, x, *ws, 3, causal)


def test_dot_product_std(sub):
    for d_k in (1, 16, 64):
        props.std_is_right(sub.dot_product_std, d_k, False, 8000, seed=d_k)
        props.std_is_right(sub.dot_product_std, d_k, True, 8000, seed=d_k)
    props.std_is_seeded(sub.dot_product_std)
    props.std_matches_samples(sub.dot_product_std, 16, False, 8000, seed=1)  # from the samples, not the formula


def test_bad_arguments(sub):
    x = torch.randn(1, 4, 8)
    ws = [torch.randn(8, 8) for _ in range(4)]
    expect_value_error(sub.multi_head_attention, x, *ws, 3, what="multi_head_attention with d_model=8, n_heads=3",
                       mentions=("n_heads",))
