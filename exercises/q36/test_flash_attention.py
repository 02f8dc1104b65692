"""Self-check for Q36. Run: pytest exercises/q36   (the last three checks, speed and memory, take 5-10 s)."""
import math

import pytest
import torch

from grader.checks import assert_close, expect_value_error
from grader.checks import q36 as props


def test_online_softmax_by_hand(sub):
    # x = [0, ln 2 | ln 4, 0] in blocks of 2:
    #   block 1: m = ln 2, l = e^(0 - ln 2) + e^(ln 2 - ln 2) = 1/2 + 1 = 3/2
    #   block 2: m_new = ln 4, l = 3/2 · e^(ln 2 - ln 4) + e^0 + e^(-ln 4) = 3/4 + 1 + 1/4 = 2
    #   result:  e^(x - ln 4) / 2 = [1/4, 1/2, 1, 1/4] / 2 = [1, 2, 4, 1] / 8
    x = torch.tensor([[0.0, math.log(2), math.log(4), 0.0]], dtype=torch.float64)
    assert_close(sub.online_softmax(x, 2), torch.tensor([[1.0, 2.0, 4.0, 1.0]], dtype=torch.float64) / 8,
                 "online_softmax([0, ln 2, ln 4, 0], block_size=2)",
                 hint="when the max grows (ln 2 -> ln 4) the running sum is rescaled by exp(m_old - m_new) = 1/2")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_online_softmax_against_torch(sub, dtype):
    g = torch.Generator().manual_seed(0)
    for shape, block in (((2, 3, 10), 4), ((7,), 7), ((5, 9), 1), ((4, 6), 16)):
        props.online_softmax_matches_torch(sub.online_softmax, torch.randn(*shape, generator=g, dtype=dtype) * 3,
                                           block)


def test_online_softmax_extreme_and_masked(sub):
    x = torch.tensor([[1e4, 1e4 - 1, -1e4, -1e4 + 2],      # a huge max first, tiny values after it
                      [-1e4, -1e4 - 1, -1e4 - 2, -1e4 - 3],  # every value very negative
                      [float("-inf"), float("-inf"), 0.0, 1.0]], dtype=torch.float64)  # a masked first block
    props.online_softmax_matches_torch(sub.online_softmax, x, 2,
                                       hint="start m at -inf, not 0; a block of only -inf adds nothing")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("causal", [True, False])
def test_flash_against_naive(sub, dtype, causal):
    # 37 is not a multiple of 16, 5 is smaller than one block, block_size 1 is a tile per token
    for lead, t_q, t_k, block in (((2, 3), 37, 37, 16), ((1, 2), 5, 5, 64), ((3,), 11, 11, 1)):
        q, k, v = props.random_qkv(lead, t_q, t_k, 8, seed=t_q, dtype=dtype)
        props.flash_matches_naive(sub.flash_attention, q, k, v, causal=causal, block_size=block)


def test_flash_against_torch_sdpa(sub):
    # torch's own attention as a second oracle (square causal: the two alignments agree)
    q, k, v = props.random_qkv((2, 2), 40, 40, 8, seed=1)
    expected = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
    assert_close(sub.flash_attention(q, k, v, causal=True, block_size=16), expected,
                 "flash_attention(q, k, v, causal=True) against torch's scaled_dot_product_attention")


def test_rectangular_causal_is_end_aligned(sub):
    # 3 new queries after 5 cached keys: query i sits at position 5 + i, so it sees keys 0 .. 5 + i.
    q, k, v = props.random_qkv((2,), 3, 8, 4, seed=2)
    props.flash_matches_naive(sub.flash_attention, q, k, v, causal=True, block_size=2)
    # the last query sees every key: the same as non-causal attention for that row
    full = sub.flash_attention(q, k, v, causal=False, block_size=2)
    assert_close(sub.flash_attention(q, k, v, causal=True, block_size=2)[:, -1], full[:, -1],
                 "the last query's row with causal=True (Tq=3, Tk=8)",
                 hint="queries are aligned to the END of the keys: query i sits at key position Tk - Tq + i")


def test_bad_arguments(sub):
    q, k = torch.ones(1, 4, 8), torch.ones(1, 4, 8)
    expect_value_error(sub.flash_attention, q, k, k, block_size=0, what="flash_attention(block_size=0)",
                       mentions=("block_size",))
    expect_value_error(sub.flash_attention, torch.ones(1, 6, 8), k, k, causal=True,
                       what="flash_attention with causal=True and more queries (6) than keys (4)",
                       mentions=("causal", "tk", "t_k", "key"))
    expect_value_error(sub.online_softmax, q, 0, what="online_softmax(x, block_size=0)", mentions=("block_size",))


@pytest.mark.timing
def test_faster_than_naive_attention(sub):
    props.faster_than_naive(sub, repeats=3)


@pytest.mark.timing
def test_causal_skips_tiles(sub):
    def noncausal(q, k, v):  # here your own non-causal call is the baseline (the grader uses its reference's)
        return sub.flash_attention(q, k, v, causal=False, block_size=props.TIMED_BLOCK)

    props.causal_skips_tiles(sub, noncausal, repeats=3, against="your flash_attention with causal=False")


def test_memory_far_below_the_full_matrix(sub):
    if props.memory_far_below_full_matrix(sub) is None:
        pytest.skip("this machine cannot measure peak memory (Linux only)")
