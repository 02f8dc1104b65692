"""Self-check for Q35. Run: pytest exercises/q35"""
import torch

from grader.checks import assert_close, assert_number, expect_value_error
from grader.checks import q35 as props


def test_equals_mha_with_repeated_kv_heads(sub):
    q, k, v = props.random_qkv(0, (2,), 8, 2, 5, 5, 8)
    props.equals_repeated_mha(sub.gqa_attention, q, k, v, causal=True)
    props.equals_repeated_mha(sub.gqa_attention, q, k, v, causal=False)


def test_mha_is_torch_attention(sub):
    q, k, v = props.random_qkv(1, (2,), 4, 4, 6, 6, 8)
    expected = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
    assert_close(sub.gqa_attention(q, k, v), expected, "gqa_attention with Hkv = Hq (MHA), causal",
                 hint="softmax(q k^T / sqrt(D)) v with key j > query i masked")


def test_mqa(sub):
    q, k, v = props.random_qkv(2, (), 6, 1, 4, 4, 8, torch.float32)
    props.equals_repeated_mha(sub.gqa_attention, q, k, v, causal=True)


def test_decoding_shape(sub):
    # 2 new queries after 5 cached tokens: they sit at positions 5 and 6 of 7.
    q, k, v = props.random_qkv(3, (1,), 6, 3, 2, 7, 8)
    props.equals_repeated_mha(sub.gqa_attention, q, k, v, causal=True)


def test_no_future_leak(sub):
    props.no_future_leak(sub.gqa_attention, n_heads=4, n_kv=2, t=5, d=4, seed=0)


def test_mha_to_gqa_by_hand(sub):
    w = torch.arange(8, dtype=torch.float64)[:, None].expand(8, 3).contiguous()  # head h filled with h
    assert_close(sub.mha_to_gqa(w, 2), torch.tensor([[1.5] * 3, [5.5] * 3], dtype=torch.float64),
                 "mha_to_gqa(head h = h for 8 heads, 2 kv heads)", hint="mean of heads 0..3 and of heads 4..7")
    props.pooled_consecutive_groups(sub.mha_to_gqa, torch.randn(12, 4, 2, dtype=torch.float64), 3)


def test_kv_cache_ratio(sub):
    assert_number(sub.kv_cache_ratio(64, 8), 8, "kv_cache_ratio(64, 8) (Llama-2-70B)")
    assert_number(sub.kv_cache_ratio(32, 32), 1, "kv_cache_ratio(32, 32) (MHA)")


def test_bad_arguments(sub):
    q, k, v = props.random_qkv(4, (1,), 6, 4, 3, 3, 8)
    expect_value_error(sub.gqa_attention, q, k, v, what="gqa_attention with 6 query heads and 4 kv heads",
                       mentions=("n_kv_heads", "heads", "multiple", "divis"))
    expect_value_error(sub.kv_cache_ratio, 32, 5, what="kv_cache_ratio(32, 5)", mentions=("n_kv_heads", "multiple"))
