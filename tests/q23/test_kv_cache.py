"""Hidden suite for Q23: decoding through the cache reproduces full causal attention (token by token,
prefill then decode, GQA/MQA, float32 and float64), per-layer fill and .length, overflow, bad arguments,
and no re-concatenation of the cache (a static check: append's module may not call torch.cat/stack)."""
import random

import pytest
import torch

from grader.checks import assert_close, assert_equal, expect_value_error, fail, unchanged
from grader.checks import q23 as props
from grader.forbidden import no_forbidden_calls

DTYPES = [torch.float32, torch.float64]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch", [1, 3])
def test_token_by_token_equals_full_attention(sub, batch, dtype):
    props.decode_matches_full(sub.KVCache, sub.attend_one_step, chunks=[1] * 9, batch=batch, n_layers=2,
                              dtype=dtype, seed=batch)


@pytest.mark.parametrize("dtype", DTYPES)
def test_prefill_then_decode(sub, dtype):
    props.decode_matches_full(sub.KVCache, sub.attend_one_step, chunks=[5, 1, 1, 3, 1, 2], n_layers=3,
                              dtype=dtype, seed=11)


@pytest.mark.parametrize("dtype", DTYPES)
def test_layers_fed_last_to_first(sub, dtype):
    # while layer 2 attends, layer 0 still holds the previous chunk: each layer attends over its own fill
    props.decode_matches_full(sub.KVCache, sub.attend_one_step, chunks=[3, 1, 2, 1], n_layers=3, dtype=dtype,
                              seed=13, reverse_layers=True)


def test_chunks_after_decoding(sub):
    # multi-token appends that start after cached positions: the causal mask is aligned to the end
    props.decode_matches_full(sub.KVCache, sub.attend_one_step, chunks=[1, 1, 4, 2, 3], n_layers=1, seed=12)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n_q_heads,n_kv_heads", [(4, 2), (6, 3), (4, 1), (8, 2)])
def test_grouped_query_heads(sub, n_q_heads, n_kv_heads, dtype):
    props.decode_matches_full(sub.KVCache, sub.attend_one_step, chunks=[3, 1, 1, 2], n_q_heads=n_q_heads,
                              n_kv_heads=n_kv_heads, dtype=dtype, seed=n_q_heads * 10 + n_kv_heads)


def test_single_position_cache(sub):
    props.decode_matches_full(sub.KVCache, sub.attend_one_step, chunks=[1], n_layers=1, spare=0, seed=4)


def test_fill_exactly_to_max_len(sub):
    props.decode_matches_full(sub.KVCache, sub.attend_one_step, chunks=[4, 1, 1, 2], spare=0, seed=5)


def test_random_schedules_match_reference(sub, ref):
    rng = random.Random(23)
    for case in range(6):
        hkv = rng.choice([1, 2])
        hq = hkv * rng.choice([1, 2, 3])
        b, d, n_layers = rng.choice([1, 2]), rng.choice([4, 8]), rng.choice([1, 2])
        dtype = rng.choice(DTYPES)
        chunks = [rng.choice([1, 1, 2, 3]) for _ in range(rng.randint(2, 5))]
        data = props.random_qkv(n_layers, b, hq, hkv, sum(chunks), d, dtype, seed=case)
        mine = sub.KVCache(n_layers, b, hkv, sum(chunks), d, dtype)
        theirs = ref.KVCache(n_layers, b, hkv, sum(chunks), d, dtype)
        start = 0
        for chunk in chunks:
            end = start + chunk
            for layer, (q, k, v) in enumerate(data):
                mine.append(layer, k[:, :, start:end], v[:, :, start:end])
                theirs.append(layer, k[:, :, start:end], v[:, :, start:end])
                assert_close(sub.attend_one_step(q[:, :, start:end], mine, layer),
                             ref.attend_one_step(q[:, :, start:end], theirs, layer),
                             f"attend_one_step (Hq={hq}, Hkv={hkv}, B={b}, D={d}, {dtype}, chunks {chunks}, "
                             f"layer {layer}, positions {start}..{end - 1})")
            start = end


# --- the cache's bookkeeping ----------------------------------------------------------------------

def test_length_counts_layer_0(sub):
    g = torch.Generator().manual_seed(0)
    k = torch.randn(1, 2, 3, 4, generator=g)
    cache = sub.KVCache(2, 1, 2, 8, 4, torch.float32)
    assert_equal(cache.length, 0, ".length of a new cache")
    cache.append(0, k, k)
    assert_equal(cache.length, 3, ".length after layer 0 appended 3 positions (layer 1 not yet)",
                 hint=".length is the number of positions cached in layer 0; each layer keeps its own fill")
    cache.append(1, k, k)
    assert_equal(cache.length, 3, ".length after both layers appended 3 positions",
                 hint="appending the same positions to another layer does not add positions")
    cache.append(0, k[:, :, :1], k[:, :, :1])
    cache.append(1, k[:, :, :1], k[:, :, :1])
    assert_equal(cache.length, 4, ".length after both layers appended 3 + 1 positions")


def test_layers_fill_independently(sub):
    g = torch.Generator().manual_seed(1)
    k = torch.randn(2, 1, 5, 4, generator=g, dtype=torch.float64)
    v = torch.randn(2, 1, 5, 4, generator=g, dtype=torch.float64)
    q = torch.randn(2, 2, 5, 4, generator=g, dtype=torch.float64)
    cache = sub.KVCache(3, 2, 1, 6, 4, torch.float64)
    cache.append(2, k[:, :, :2], v[:, :, :2])
    k_all, v_all = cache.append(2, k[:, :, 2:5], v[:, :, 2:5])
    assert_close(k_all, k, "layer 2's k_all after appending 2 then 3 positions (layers 0 and 1 still empty)",
                 hint="each layer writes at its own fill")
    assert_equal(cache.length, 0, ".length while layer 2 holds 5 positions and layer 0 none",
                 hint=".length is the number of positions cached in layer 0, not the most of any layer")
    assert_close(sub.attend_one_step(q[:, :, 3:], cache, 2), props.full_causal_attention(q, k, v)[:, :, 3:],
                 "attend_one_step(q_t of 2 positions, cache, layer=2) while layer 2 holds 5 positions and layer 0 none",
                 hint="attend over the positions cached in THIS layer (its own fill), not .length (layer 0)")
    k0, v0 = cache.append(0, -k[:, :, :1], -v[:, :, :1])
    assert_close(k0, -k[:, :, :1], "layer 0's k_all after its first append (layer 2 holds 5 positions)")
    assert_close(v0, -v[:, :, :1], "layer 0's v_all after its first append")
    assert_equal(cache.length, 1, ".length after layer 0 appended 1 position (layer 2 holds 5)",
                 hint=".length is the number of positions cached in layer 0")


def test_two_caches_are_independent(sub):
    g = torch.Generator().manual_seed(2)
    a, b = torch.randn(1, 1, 2, 4, generator=g), torch.randn(1, 1, 3, 4, generator=g)
    first, second = sub.KVCache(1, 1, 1, 4, 4, torch.float32), sub.KVCache(1, 1, 1, 4, 4, torch.float32)
    first.append(0, a, a)
    k_all, _ = second.append(0, b, b)
    assert_close(k_all, b, "a second cache's k_all (another cache already holds 2 positions)")
    k_all, _ = first.append(0, a[:, :, :1], a[:, :, :1])
    assert_close(k_all, torch.cat([a, a[:, :, :1]], dim=2), "the first cache's k_all after one more position")


def test_default_dtype_is_float32(sub):
    cache = sub.KVCache(1, 1, 1, 2, 4)
    k = torch.ones(1, 1, 1, 4)
    k_all, v_all = cache.append(0, k, k)
    assert_close(k_all, k, "k_all of a cache made without a dtype (float32 by default)")


# --- overflow and bad arguments -------------------------------------------------------------------

def test_overflow_raises_and_leaves_the_cache_intact(sub):
    g = torch.Generator().manual_seed(3)
    k = torch.randn(1, 2, 4, 4, generator=g, dtype=torch.float64)
    cache = sub.KVCache(1, 1, 2, 4, 4, torch.float64)
    cache.append(0, k[:, :, :3], k[:, :, :3])
    expect_value_error(cache.append, 0, k[:, :, :2], k[:, :, :2],
                       what="appending 2 positions to a cache holding 3 of max_len=4", mentions=("max_len",))
    assert_equal(cache.length, 3, ".length after a rejected append (must be unchanged)")
    k_all, _ = cache.append(0, k[:, :, 3:], k[:, :, 3:])
    assert_close(k_all, k, "k_all after filling the cache exactly to max_len (after a rejected append)")
    expect_value_error(cache.append, 0, k[:, :, :1], k[:, :, :1], what="appending to a full cache",
                       mentions=("max_len",))


def test_overflow_in_one_append(sub):
    cache = sub.KVCache(2, 1, 1, 3, 2, torch.float32)
    k = torch.zeros(1, 1, 4, 2)
    expect_value_error(cache.append, 1, k, k, what="appending 4 positions to an empty cache of max_len=3",
                       mentions=("max_len",))


def valid_append(cache, layer, k, v, what):
    """A valid append first, answered right: a cache that rejects everything earns nothing here."""
    result = cache.append(layer, k, v)
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        fail(f"{what}: append should return (k_all, v_all), got {type(result).__name__}")
    assert_close(result[0], k, f"{what}: k_all")
    assert_close(result[1], v, f"{what}: v_all")


@pytest.mark.parametrize("case", ["layer", "k_heads", "k_dim", "v_shape", "dtype"])
def test_append_bad_arguments(sub, case):
    cache = sub.KVCache(2, 2, 2, 8, 4, torch.float32)
    g = torch.Generator().manual_seed(7)
    k = torch.randn(2, 2, 1, 4, generator=g)
    valid_append(cache, 1, k, 2 * k, "append(layer=1, k, v) of one position to an empty cache (valid)")
    if case == "layer":
        expect_value_error(cache.append, 2, k, k, what="append(layer=2) on a 2-layer cache", mentions=("layer",))
    elif case == "k_heads":
        bad = torch.zeros(2, 3, 1, 4)
        expect_value_error(cache.append, 0, bad, bad, what="append with k of 3 heads to a cache of 2 kv heads",
                           mentions=("k",))
    elif case == "k_dim":
        bad = torch.zeros(2, 2, 1, 5)
        expect_value_error(cache.append, 0, bad, bad, what="append with head dim 5 to a cache of head_dim 4",
                           mentions=("k",))
    elif case == "v_shape":
        expect_value_error(cache.append, 0, k, torch.zeros(2, 2, 2, 4),
                           what="append with k of 1 position and v of 2", mentions=("v",))
    else:
        bad = torch.zeros(2, 2, 1, 4, dtype=torch.float64)
        expect_value_error(cache.append, 0, bad, bad, what="append of float64 k/v to a float32 cache",
                           mentions=("dtype",))


def test_query_heads_must_be_a_multiple(sub):
    g = torch.Generator().manual_seed(11)
    q, k, v = torch.randn(1, 4, 1, 4, generator=g), torch.randn(1, 2, 1, 4, generator=g), torch.randn(1, 2, 1, 4, generator=g)
    cache = sub.KVCache(1, 1, 2, 4, 4, torch.float32)
    cache.append(0, k, v)
    assert_close(sub.attend_one_step(q, cache, 0), props.full_causal_attention(q, k, v),
                 "attend_one_step with 4 query heads over 2 kv heads (valid)")
    expect_value_error(sub.attend_one_step, torch.zeros(1, 3, 1, 4), cache, 0,
                       what="attend_one_step with 3 query heads over 2 kv heads", mentions=("head", "q_t"))


def test_append_batch_must_match(sub):
    cache = sub.KVCache(2, 2, 2, 8, 4, torch.float32)
    k = torch.randn(2, 2, 1, 4, generator=torch.Generator().manual_seed(8))
    valid_append(cache, 0, k, -k, "append of one position with k, v of batch 2 to a cache of batch 2 (valid)")
    bad = torch.zeros(1, 2, 1, 4)  # would broadcast silently into both batch rows
    expect_value_error(cache.append, 0, bad, bad, what="append with k of batch 1 to a cache of batch 2",
                       mentions=("k", "batch"))


def test_query_batch_must_match(sub):
    g = torch.Generator().manual_seed(9)
    q, k, v = torch.randn(2, 2, 2, 4, generator=g), torch.randn(2, 2, 2, 4, generator=g), torch.randn(2, 2, 2, 4, generator=g)
    cache = sub.KVCache(1, 2, 2, 4, 4, torch.float32)
    cache.append(0, k, v)
    assert_close(sub.attend_one_step(q, cache, 0), props.full_causal_attention(q, k, v),
                 "attend_one_step with q_t of batch 2 over a cache of batch 2 (valid)")
    expect_value_error(sub.attend_one_step, torch.zeros(1, 2, 1, 4), cache, 0,
                       what="attend_one_step with q_t of batch 1 over a cache of batch 2 (would broadcast silently)",
                       mentions=("q_t", "batch"))


def test_constructor_bad_arguments(sub):
    k = torch.randn(1, 2, 3, 4, generator=torch.Generator().manual_seed(10))
    valid_append(sub.KVCache(1, 1, 2, 3, 4, torch.float32), 0, k, k + 1,
                 "KVCache(1, 1, 2, 3, 4) then an append that fills it (valid)")
    expect_value_error(sub.KVCache, 1, 1, 0, 4, 4, torch.float32, what="KVCache(n_kv_heads=0)",
                       mentions=("n_kv_heads",))
    expect_value_error(sub.KVCache, 1, 1, 2, -1, 4, torch.float32, what="KVCache(max_len=-1)",
                       mentions=("max_len",))


# --- inputs, and no re-concatenation --------------------------------------------------------------

def test_inputs_unchanged(sub):
    g = torch.Generator().manual_seed(6)
    q, k, v = (torch.randn(1, 2, 3, 4, generator=g, dtype=torch.float64) for _ in range(3))
    before = [t.clone() for t in (q, k, v)]
    cache = sub.KVCache(1, 1, 2, 5, 4, torch.float64)
    cache.append(0, k, v)
    assert_close(sub.attend_one_step(q, cache, 0), props.full_causal_attention(q, k, v),
                 "attend_one_step after a prefill of 3 positions")  # the right answer first
    for name, b, a in zip(("q_t", "k", "v"), before, (q, k, v)):
        unchanged(b, a, name)


@pytest.mark.forbidden
def test_append_does_not_concatenate(sub):
    cache = sub.KVCache(1, 1, 1, 4, 2, torch.float32)
    k = torch.ones(1, 1, 1, 2)
    # The point of a preallocated cache: each step writes t positions in place instead of re-building
    # the whole [B, H, L, D] tensor (O(L) per step, O(L^2) per sequence): no cat/stack, no trip through
    # numpy, whatever name reaches them (the operators append runs are recorded).
    with no_forbidden_calls(sub, "append"):
        cache.append(0, k, k)
        k_all, _ = cache.append(0, 2 * k, 2 * k)
    assert_close(k_all, torch.tensor([[[[1.0, 1.0], [2.0, 2.0]]]]), "k_all after two appends")
