"""Hidden suite for Q38: next-fit packing, block-diagonal causal masks, loss masks and cu_seqlens.

Packings are compared with the reference on many seeded document lists and checked against the
properties of next-fit packing; the attention mask is proven by computing attention over a packed row
(plain torch math, float32 and float64) and over each document alone.

Rubric (grader/rubrics/q38.toml): the argument and inputs-unchanged tests first check a correct answer on
a valid input next to the bad one; error messages may word things as they like (the document, its
length, segment ids ...).
"""
import pytest
import torch

from grader.checks import assert_close, assert_equal, expect_value_error, unchanged
from grader.checks import q38 as props


def random_docs(seed: int, n: int, max_len: int, vocab: int = 50) -> list[list[int]]:
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, max_len + 1, (n,), generator=g).tolist()
    short = torch.rand(n, generator=g) < 0.6  # many short documents, so rows hold several
    lengths = [max(1, l // 3) if s else l for l, s in zip(lengths, short.tolist())]
    return [torch.randint(1, vocab, (l,), generator=g).tolist() for l in lengths]


# A document filling a whole row followed by a row whose first document is also segment 1 (so a
# cu_seqlens that runs across rows merges them), a document of length 1 that would fit in an earlier
# row (first-fit would move it), and rows of several documents with padding.
TRICKY = [[1, 2, 3, 4, 5, 6], [7, 8], [9, 10, 11, 12, 13], [14], [15, 16, 17, 18, 19, 20], [21, 22, 23], [24]]


def packed(ref, docs, max_len, pad_id=0):
    return ref.pack_sequences(docs, max_len, pad_id)


# --- pack_sequences ------------------------------------------------------------------------------------

def test_pack_by_hand(sub):
    ids, seg, pos = sub.pack_sequences([[5, 6, 7], [8, 9], [10, 11, 12, 13], [14]], 6, 0)
    hint = "next-fit: [14] goes into row 1 (the current row), not back into row 0's free slot"
    assert_equal(ids, torch.tensor([[5, 6, 7, 8, 9, 0], [10, 11, 12, 13, 14, 0]]), "input_ids", hint=hint)
    assert_equal(seg, torch.tensor([[1, 1, 1, 2, 2, 0], [1, 1, 1, 1, 2, 0]]), "segment_ids", hint=hint)
    assert_equal(pos, torch.tensor([[0, 1, 2, 0, 1, 0], [0, 1, 2, 3, 0, 0]]), "position_ids",
                 hint="positions restart at 0 for every document; padding gets 0")


@pytest.mark.parametrize("seed", range(8))
def test_pack_matches_reference(sub, ref, seed):
    max_len = [8, 16, 5, 32, 12, 7, 64, 9][seed]
    docs = random_docs(seed, n=3 + 4 * seed, max_len=max_len)
    pad_id = [0, -1, 99, 0, 3, 0, 1, 0][seed]
    props.check_packing(sub.pack_sequences, docs, max_len, pad_id)
    got = sub.pack_sequences(docs, max_len, pad_id)
    exp = ref.pack_sequences(docs, max_len, pad_id)
    for name, a, e in zip(("input_ids", "segment_ids", "position_ids"), got, exp):
        assert_equal(a, e, f"pack_sequences(<{len(docs)} random documents>, max_len={max_len}, "
                           f"pad_id={pad_id}) {name}")


def test_pack_next_fit_not_first_fit(sub, ref):
    props.check_packing(sub.pack_sequences, TRICKY, 6, 0)
    for a, e, name in zip(sub.pack_sequences(TRICKY, 6, 0), ref.pack_sequences(TRICKY, 6, 0),
                          ("input_ids", "segment_ids", "position_ids")):
        assert_equal(a, e, f"pack_sequences({TRICKY}, 6, 0) {name}",
                     hint="next-fit keeps the order: a document never goes back to an earlier row")


@pytest.mark.parametrize("docs,max_len", [([[3]], 1), ([[3], [4], [5]], 1), ([[1, 2, 3, 4]], 4),
                                          ([[1, 2], [3, 4], [5, 6]], 4), ([[9] * 5, [8] * 5], 10), ([], 4)])
def test_pack_edge_cases(sub, ref, docs, max_len):
    props.check_packing(sub.pack_sequences, docs, max_len, 0)
    for a, e, name in zip(sub.pack_sequences(docs, max_len, 0), ref.pack_sequences(docs, max_len, 0),
                          ("input_ids", "segment_ids", "position_ids")):
        assert_equal(a, e, f"pack_sequences({docs}, {max_len}, 0) {name}")


def test_pack_leaves_documents_alone(sub):
    docs = random_docs(11, 9, 8)
    before = [list(d) for d in docs]
    props.check_packing(sub.pack_sequences, docs, 8, 0)
    assert_equal(docs, before, "the documents after pack_sequences (must be unchanged)")


DOC_WORDS = ("seqs", "doc", "empty", "token", "length", "len", "long", "fit", "max_len")


@pytest.mark.parametrize("args,mentions", [
    (([[1, 2, 3], [4, 5, 6, 7, 8]], 4, 0), DOC_WORDS),
    (([[1, 2]], 0, 0), ("max_len", "length", "row", "positive")),
    (([[1, 2]], -3, 0), ("max_len", "length", "row", "positive")),
    (([[1, 2], []], 4, 0), DOC_WORDS),
])
def test_pack_bad_arguments(sub, args, mentions):
    props.check_packing(sub.pack_sequences, [[1, 2, 3], [4]], 4, 0)  # the valid call next to the bad one
    expect_value_error(sub.pack_sequences, *args, what=f"pack_sequences{args}", mentions=mentions)


# --- packed_attention_mask ---------------------------------------------------------------------------

def segment_layouts(ref):
    """Segment ids shaped [T], [R, T] and [2, R', T], from packings, with and without padding."""
    out = []
    for seed, max_len in ((1, 10), (2, 16), (3, 7)):
        seg = packed(ref, random_docs(100 + seed, 10, max_len), max_len)[1]
        out += [seg[0], seg]
    seg = packed(ref, TRICKY, 6)[1]
    out += [seg, torch.stack([seg, seg.flip(0)])]
    out.append(torch.tensor([[1, 1, 2, 2, 2, 3], [0, 0, 0, 0, 0, 0], [1, 2, 3, 4, 5, 6]]))
    return out


def test_attention_mask_by_hand(sub):
    props.attention_mask_by_hand(sub.packed_attention_mask)


def test_attention_mask_matches_reference(sub, ref):
    for seg in segment_layouts(ref):
        before = seg.clone()
        got = sub.packed_attention_mask(seg)
        unchanged(before, seg, "segment_ids")
        assert_close(got, ref.packed_attention_mask(seg), f"packed_attention_mask(segment_ids {tuple(seg.shape)})",
                     example=str(seg.tolist()) if seg.numel() <= 24 else None)


def test_attention_mask_int32_segments(sub, ref):
    seg = packed(ref, TRICKY, 6)[1].to(torch.int32)
    assert_close(sub.packed_attention_mask(seg), ref.packed_attention_mask(seg),
                 "packed_attention_mask(int32 segment_ids)")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_attention_equals_each_document_alone(sub, ref, dtype):
    for i, seg in enumerate(segment_layouts(ref)):
        props.attention_matches_separate(sub.packed_attention_mask, seg, d=8, seed=i, dtype=dtype)


# --- packed_loss_mask ----------------------------------------------------------------------------------

def test_loss_mask_by_hand(sub):
    got = sub.packed_loss_mask(torch.tensor([[1, 1, 1, 2, 2, 0], [1, 1, 1, 1, 2, 0], [1, 1, 2, 2, 3, 3]]))
    T, F = True, False
    assert_close(got, torch.tensor([[T, T, F, T, F, F], [T, T, T, F, F, F], [T, F, T, F, T, F]]),
                 "packed_loss_mask(segment_ids)",
                 hint="True at t iff token t+1 is in the same document; the last position of a row is False")


def test_loss_mask_matches_reference(sub, ref):
    for seg in segment_layouts(ref):
        props.loss_mask_within_documents(sub.packed_loss_mask, seg)
        before = seg.clone()
        got = sub.packed_loss_mask(seg)
        unchanged(before, seg, "segment_ids")
        assert_close(got, ref.packed_loss_mask(seg), f"packed_loss_mask(segment_ids {tuple(seg.shape)})",
                     example=str(seg.tolist()) if seg.numel() <= 24 else None)


def test_no_label_crosses_a_boundary(sub, ref):
    """Count the labels a packed batch trains on: sum(len(doc) - 1) exactly, none across documents."""
    docs = random_docs(7, 30, 12)
    ids, seg, _ = packed(ref, docs, 12)
    mask = sub.packed_loss_mask(seg)
    props.loss_mask_within_documents(sub.packed_loss_mask, seg)
    assert_equal(int(mask.sum()), sum(len(d) - 1 for d in docs), "the number of True positions of the loss mask",
                 hint="each document of n tokens gives n - 1 labels")


# --- cu_seqlens ---------------------------------------------------------------------------------------

def test_cu_seqlens_by_hand(sub):
    got = sub.cu_seqlens(torch.tensor([[1, 1, 1, 2, 2, 0], [1, 1, 1, 1, 2, 0]]))
    assert_equal(got, torch.tensor([0, 3, 5, 9, 10], dtype=torch.int32), "cu_seqlens([[1,1,1,2,2,0],[1,1,1,1,2,0]])",
                 hint="int32, starting at 0, padding excluded, rows read one after the other")


@pytest.mark.parametrize("seed,max_len", [(0, 6), (1, 10), (2, 16), (3, 4), (4, 1)])
def test_cu_seqlens_matches_reference(sub, ref, seed, max_len):
    docs = TRICKY if seed == 0 else random_docs(200 + seed, 12, max_len)
    ids, seg, _ = packed(ref, docs, max_len)
    props.cu_seqlens_slices_documents(sub.cu_seqlens, seg, ids, docs)
    assert_equal(sub.cu_seqlens(seg), ref.cu_seqlens(seg), f"cu_seqlens(segment_ids {tuple(seg.shape)})")
    row = seg[0]
    assert_equal(sub.cu_seqlens(row), ref.cu_seqlens(row), f"cu_seqlens(one row {row.tolist()})")


def test_cu_seqlens_leading_dims(sub, ref):
    ids, seg, _ = packed(ref, TRICKY + random_docs(300, 5, 6), 6)
    seg = seg[: seg.shape[0] // 2 * 2].reshape(2, -1, 6)
    assert_equal(sub.cu_seqlens(seg), ref.cu_seqlens(seg), f"cu_seqlens(segment_ids {tuple(seg.shape)})",
                 hint="leading dims are flattened row-major")


def test_cu_seqlens_does_not_merge_rows(sub):
    # A document fills row 0; row 1 starts again with segment id 1: that is a new document.
    got = sub.cu_seqlens(torch.tensor([[1, 1, 1], [1, 1, 0]]))
    assert_equal(got, torch.tensor([0, 3, 5], dtype=torch.int32), "cu_seqlens([[1, 1, 1], [1, 1, 0]])",
                 hint="segment ids restart in every row: a document never continues into the next row")


# --- bad arguments -------------------------------------------------------------------------------------

@pytest.mark.parametrize("fn", ["packed_attention_mask", "packed_loss_mask", "cu_seqlens"])
def test_float_segment_ids_are_rejected(sub, ref, fn):
    seg = torch.tensor([1, 1, 2, 0])
    assert_equal(getattr(sub, fn)(seg), getattr(ref, fn)(seg), f"{fn}([1, 1, 2, 0]) (the valid call next to the bad one)")
    expect_value_error(getattr(sub, fn), torch.tensor([1.0, 1.0, 2.0]), what=f"{fn}(float segment_ids)",
                       mentions=("segment_ids", "segment", "ids", "integer", "int", "dtype", "float"))
