"""Self-check for Q23. Run: pytest exercises/q23

The oracle is full causal attention over the whole sequence (grader/checks/q23.py): decoding through
the cache must reproduce its rows.
"""
import torch

from grader.checks import assert_close, assert_equal, expect_value_error
from grader.checks import q23 as props


def test_append_returns_everything_cached(sub):
    cache = sub.KVCache(1, 1, 1, 4, 2, torch.float64)
    one = torch.ones(1, 1, 1, 2, dtype=torch.float64)
    cache.append(0, one, one)
    k_all, v_all = cache.append(0, 2 * one, 3 * one)
    assert_close(k_all, torch.tensor([[[[1.0, 1.0], [2.0, 2.0]]]], dtype=torch.float64), "k_all after two appends")
    assert_close(v_all, torch.tensor([[[[1.0, 1.0], [3.0, 3.0]]]], dtype=torch.float64), "v_all after two appends")
    assert_equal(cache.length, 2, ".length after two appends of one position")


def test_token_by_token(sub):
    props.decode_matches_full(sub.KVCache, sub.attend_one_step, chunks=[1] * 6, seed=0)


def test_prefill_then_decode(sub):
    props.decode_matches_full(sub.KVCache, sub.attend_one_step, chunks=[4, 1, 1, 2], seed=1)


def test_grouped_query_heads(sub):
    props.decode_matches_full(sub.KVCache, sub.attend_one_step, chunks=[3, 1, 2], n_q_heads=4, n_kv_heads=2,
                              dtype=torch.float32, seed=2)


def test_overflow(sub):
    cache = sub.KVCache(1, 1, 1, 2, 2, torch.float32)
    k = torch.zeros(1, 1, 3, 2)
    expect_value_error(cache.append, 0, k, k, what="appending 3 positions to a cache of max_len=2",
                       mentions=("max_len",))
