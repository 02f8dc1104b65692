"""Hidden suite for Q35: gqa_attention against the reference and against MHA with repeated kv heads
(consecutive grouping), MQA and MHA as the two ends, causal and not, rectangular (decoding) shapes,
float32/float64, batch dims; mha_to_gqa pooling; kv_cache_ratio; bad arguments.

Rubric (grader/rubrics/q35.toml): the values are checked on [B, H, T, D] inputs and [H, d_model, D]
weights; other ranks (no batch dim, two batch dims, [H], 4-D weights) are their own small part. Every
bad-argument test first checks the value of a valid call next to the bad one."""
import pytest
import torch

from grader.checks import assert_close, assert_number, expect_value_error
from grader.checks import q35 as props

DTYPES = [torch.float32, torch.float64]
HEADS = [(8, 2), (6, 3), (12, 4), (4, 4), (4, 1)]  # (Hq, Hkv): groups of 4, 2, 3; MHA; MQA


def _against_reference(sub, ref, q, k, v, causal):
    assert_close(sub.gqa_attention(q, k, v, causal=causal), ref.gqa_attention(q, k, v, causal=causal),
                 f"gqa_attention(q {tuple(q.shape)}, k/v {tuple(k.shape)}, causal={causal}) in {q.dtype}",
                 hint="query head h uses kv head h // (Hq // Hkv); scale by 1/sqrt(D); causal masks key j > query i")


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("heads", HEADS, ids=lambda h: f"Hq{h[0]}-Hkv{h[1]}")
@pytest.mark.parametrize("dtype", DTYPES)
def test_gqa_against_reference(sub, ref, dtype, heads, causal):
    n_heads, n_kv = heads
    q, k, v = props.random_qkv(n_heads + 10, (2,), n_heads, n_kv, 6, 6, 8, dtype)
    _against_reference(sub, ref, q, k, v, causal)


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("heads", [(8, 2), (4, 1)], ids=lambda h: f"Hq{h[0]}-Hkv{h[1]}")
@pytest.mark.parametrize("lead", [(), (2, 3)], ids=["no-batch", "B2x3"])
def test_gqa_other_leading_dims(sub, ref, lead, heads, causal):
    """[Hq, T, D] without a batch dim, and two batch dims: the statement's "any leading dims" (a small part)."""
    n_heads, n_kv = heads
    q, k, v = props.random_qkv(n_heads + 10 * len(lead), lead, n_heads, n_kv, 6, 6, 8)
    _against_reference(sub, ref, q, k, v, causal)


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("heads", [(8, 2), (6, 3), (12, 4), (6, 2)], ids=lambda h: f"Hq{h[0]}-Hkv{h[1]}")
@pytest.mark.parametrize("dtype", DTYPES)
def test_equals_mha_with_repeated_kv_heads(sub, dtype, heads, causal):
    """Hkv >= 2 and groups >= 2 with random k/v per head: interleaved grouping (h % Hkv) cannot pass."""
    n_heads, n_kv = heads
    q, k, v = props.random_qkv(3 * n_heads + causal, (2,), n_heads, n_kv, 7, 7, 16, dtype)
    props.equals_repeated_mha(sub.gqa_attention, q, k, v, causal=causal)


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("dtype", DTYPES)
def test_mqa_single_kv_head(sub, dtype, causal):
    q, k, v = props.random_qkv(5, (3,), 8, 1, 5, 5, 8, dtype)
    props.equals_repeated_mha(sub.gqa_attention, q, k, v, causal=causal)


@pytest.mark.parametrize("causal", [True, False])
def test_mha_matches_torch_sdpa(sub, causal):
    """Hkv = Hq is plain multi-head attention: torch's scaled_dot_product_attention is the oracle."""
    q, k, v = props.random_qkv(6, (2,), 4, 4, 9, 9, 8)
    expected = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=causal)
    assert_close(sub.gqa_attention(q, k, v, causal=causal), expected, f"gqa_attention with Hkv = Hq = 4 (MHA), "
                 f"causal={causal}", hint="with as many kv heads as query heads this is ordinary attention")


@pytest.mark.parametrize("t_q,t_k", [(1, 9), (3, 8), (5, 5)])
@pytest.mark.parametrize("dtype", DTYPES)
def test_rectangular_causal_queries_at_the_end(sub, ref, dtype, t_q, t_k):
    """Decoding with a cache: the t_q new queries sit at positions t_k - t_q .. t_k - 1."""
    q, k, v = props.random_qkv(t_q * 10 + t_k, (2,), 6, 2, t_q, t_k, 8, dtype)
    props.equals_repeated_mha(sub.gqa_attention, q, k, v, causal=True)
    assert_close(sub.gqa_attention(q, k, v), ref.gqa_attention(q, k, v),
                 f"gqa_attention(q {tuple(q.shape)}, k/v {tuple(k.shape)}) (causal by default)",
                 hint="causal is the default; query i sits at absolute position t_k - t_q + i")


@pytest.mark.parametrize("t_q,t_k", [(4, 9), (9, 4)])
def test_rectangular_not_causal(sub, t_q, t_k):
    q, k, v = props.random_qkv(t_q + t_k, (1,), 6, 3, t_q, t_k, 8)
    props.equals_repeated_mha(sub.gqa_attention, q, k, v, causal=False)


def test_last_query_of_decoding_sees_everything(sub, ref):
    """One new query after 11 cached tokens attends to all 12 keys: equal to the non-causal result."""
    q, k, v = props.random_qkv(42, (1,), 8, 2, 1, 12, 8)
    assert_close(sub.gqa_attention(q, k, v, causal=True), ref.gqa_attention(q, k, v, causal=False),
                 "gqa_attention(one query, 12 keys, causal=True)", hint="the last query may attend every key")


@pytest.mark.parametrize("seed", [0, 1])
def test_no_future_leak(sub, seed):
    props.no_future_leak(sub.gqa_attention, n_heads=6, n_kv=2, t=6, d=8, seed=seed)


@pytest.mark.parametrize("case", ["not_divisible", "kv_mismatch", "head_dim", "batch", "rank", "causal_t_q_gt_t_k"])
def test_gqa_bad_arguments(sub, case):
    q, k, v = props.random_qkv(0, (2,), 6, 2, 4, 4, 8)
    props.equals_repeated_mha(sub.gqa_attention, q, k, v, causal=True)  # the valid call next to the bad one
    if case == "not_divisible":
        args = (q, k[:, :1].repeat(1, 4, 1, 1), v[:, :1].repeat(1, 4, 1, 1))  # 6 query heads, 4 kv heads
    elif case == "kv_mismatch":
        args = (q, k, v[..., :3, :])
    elif case == "head_dim":
        args = (q, k[..., :4], v[..., :4])
    elif case == "batch":
        args = (q, torch.cat([k, k]), torch.cat([v, v]))
    elif case == "rank":
        args = (q[0, 0], k[0, 0], v[0, 0])
    else:
        args = props.random_qkv(1, (2,), 6, 2, 5, 3, 8)
    props.expect_shape_error(sub.gqa_attention, *args, what=f"gqa_attention with bad shapes ({case}: q "
                             f"{tuple(args[0].shape)}, k {tuple(args[1].shape)}, v {tuple(args[2].shape)})")


# --- mha_to_gqa -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("n_kv", [1, 2, 4])
@pytest.mark.parametrize("dtype", DTYPES)
def test_mha_to_gqa_against_reference(sub, ref, dtype, n_kv):
    w = torch.randn(8, 16, 4, generator=torch.Generator().manual_seed(n_kv + 3), dtype=torch.float64).to(dtype)
    props.pooled_consecutive_groups(sub.mha_to_gqa, w, n_kv)
    assert_close(sub.mha_to_gqa(w, n_kv), ref.mha_to_gqa(w, n_kv), f"mha_to_gqa(k_proj (8, 16, 4) {dtype}, {n_kv})")


@pytest.mark.parametrize("n_kv", [2, 4])
@pytest.mark.parametrize("shape", [(8,), (8, 3, 5, 2)], ids=["H", "4d"])
def test_mha_to_gqa_other_ranks(sub, ref, shape, n_kv):
    """[H] (one number per head) and [H, a, b, c]: the statement's "[H, ...]" (a small part)."""
    w = torch.randn(*shape, generator=torch.Generator().manual_seed(n_kv + len(shape)), dtype=torch.float64)
    props.pooled_consecutive_groups(sub.mha_to_gqa, w, n_kv)


def test_mha_to_gqa_by_head_index(sub):
    """Head h filled with the value h: group j of 3 consecutive heads has mean 3j + 1."""
    w = torch.arange(12, dtype=torch.float64)[:, None, None].expand(12, 5, 2).contiguous()
    expected = (3 * torch.arange(4, dtype=torch.float64) + 1)[:, None, None].expand(4, 5, 2)
    assert_close(sub.mha_to_gqa(w, 4), expected, "mha_to_gqa(head h = h for 12 heads, 4 kv heads)",
                 hint="kv head j pools heads 3j, 3j+1, 3j+2 (consecutive), not j, j+4, j+8")
    assert_close(sub.mha_to_gqa(w, 12), w, "mha_to_gqa(12 heads, 12 kv heads)", hint="groups of one head: unchanged")


def test_mha_to_gqa_identical_heads_kept(sub):
    base = torch.randn(3, 7, 4, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    w = base.repeat_interleave(4, dim=0)  # each group of 4 consecutive heads identical
    assert_close(sub.mha_to_gqa(w, 3), base, "mha_to_gqa of groups of identical heads",
                 hint="the mean of identical heads is that head")


@pytest.mark.parametrize("n_kv", [4, 0, 2.0])
def test_mha_to_gqa_bad_arguments(sub, n_kv):
    w = torch.randn(6, 4, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    props.pooled_consecutive_groups(sub.mha_to_gqa, w, 3)  # the valid call next to the bad one
    props.expect_shape_error(sub.mha_to_gqa, w, n_kv, what=f"mha_to_gqa(k_proj (6, 4), {n_kv!r})")


# --- kv_cache_ratio -------------------------------------------------------------------------------------

def _ratio(sub, n_heads, n_kv):
    assert_number(sub.kv_cache_ratio(n_heads, n_kv), n_heads / n_kv, f"kv_cache_ratio({n_heads}, {n_kv})",
                  hint="how many times smaller the cache is than with one kv head per query head: n_heads / n_kv_heads")


@pytest.mark.parametrize("n_heads,n_kv", [(64, 8), (32, 8), (32, 32), (48, 6), (12, 12)])
def test_kv_cache_ratio(sub, n_heads, n_kv):
    _ratio(sub, n_heads, n_kv)


def test_kv_cache_ratio_mqa(sub):
    _ratio(sub, 32, 8)
    _ratio(sub, 32, 1)  # MQA: as many times smaller as there are query heads


@pytest.mark.parametrize("args", [(32, 5), (0, 1), (8, 0), (8, -2)])
def test_kv_cache_ratio_bad_arguments(sub, args):
    _ratio(sub, 32, 4)  # the valid call next to the bad one
    expect_value_error(sub.kv_cache_ratio, *args, what=f"kv_cache_ratio{args}",
                       mentions=("n_heads", "n_kv_heads", "head", "multiple", "divi"))


# --- trains: gradients
from grader.checks import grad  # noqa: E402


@pytest.mark.parametrize("heads,t_q,t_k,causal", [((4, 2), 5, 5, True), ((6, 3), 3, 6, True), ((4, 1), 4, 6, False)])
def test_grad_gqa_attention(sub, ref, heads, t_q, t_k, causal):
    """Gradients w.r.t. q, k, v: each shared kv head collects the gradient of every query head in its group."""
    n_heads, n_kv = heads
    q, k, v = grad.f64(2, n_heads, t_q, 4, seed=1), grad.f64(2, n_kv, t_k, 4, seed=2), grad.f64(2, n_kv, t_k, 4, seed=3)
    grad.gradients_match(sub._vjp, ref.gqa_attention, (q, k, v, causal), wrt=("q", "k", "v"), seed=4)
