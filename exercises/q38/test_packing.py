"""Self-check for Q38. Run: pytest exercises/q38"""
import torch

from grader.checks import assert_close, assert_equal, expect_value_error
from grader.checks import q38 as props

T, F = True, False
DOCS = [[5, 6, 7], [8, 9], [10, 11, 12, 13], [14]]


def test_pack_by_hand(sub):
    ids, seg, pos = sub.pack_sequences(DOCS, 6, 0)
    assert_equal(ids, torch.tensor([[5, 6, 7, 8, 9, 0], [10, 11, 12, 13, 14, 0]]), "input_ids",
                 hint="next-fit: [14] joins the current row (row 1), never row 0's free slot")
    assert_equal(seg, torch.tensor([[1, 1, 1, 2, 2, 0], [1, 1, 1, 1, 2, 0]]), "segment_ids",
                 hint="1, 2, ... per row; 0 = padding")
    assert_equal(pos, torch.tensor([[0, 1, 2, 0, 1, 0], [0, 1, 2, 3, 0, 0]]), "position_ids",
                 hint="positions restart at 0 for every document")


def test_pack_properties(sub):
    props.check_packing(sub.pack_sequences, DOCS, 6, 0)
    props.check_packing(sub.pack_sequences, [[1, 2, 3, 4], [5], [6, 7, 8], [9, 9], [7]], 4, -1)
    props.check_packing(sub.pack_sequences, [[3], [4], [5]], 1, 0)


def test_attention_mask_by_hand(sub):
    props.attention_mask_by_hand(sub.packed_attention_mask)


def test_attention_equals_each_document_alone(sub):
    seg = torch.tensor([[1, 1, 1, 2, 2, 0], [1, 1, 1, 1, 2, 0], [1, 2, 2, 2, 2, 2]])
    props.attention_matches_separate(sub.packed_attention_mask, seg, d=4, seed=0)
    props.attention_matches_separate(sub.packed_attention_mask, seg, d=4, seed=1, dtype=torch.float32)


def test_loss_mask(sub):
    seg = torch.tensor([[1, 1, 1, 2, 2, 0], [1, 1, 1, 1, 2, 0]])
    assert_close(sub.packed_loss_mask(seg), torch.tensor([[T, T, F, T, F, F], [T, T, T, F, F, F]]),
                 "packed_loss_mask(segment_ids)", hint="the label of position t is token t+1")
    props.loss_mask_within_documents(sub.packed_loss_mask, seg)


def test_cu_seqlens(sub):
    seg = torch.tensor([[1, 1, 1, 2, 2, 0], [1, 1, 1, 1, 2, 0]])
    ids = torch.tensor([[5, 6, 7, 8, 9, 0], [10, 11, 12, 13, 14, 0]])
    assert_equal(sub.cu_seqlens(seg[0]), torch.tensor([0, 3, 5], dtype=torch.int32), "cu_seqlens(one row)")
    props.cu_seqlens_slices_documents(sub.cu_seqlens, seg, ids, DOCS)


def test_bad_arguments(sub):
    expect_value_error(sub.pack_sequences, [[1, 2, 3, 4, 5]], 4, 0, what="a document longer than max_len",
                       mentions=("max_len", "seqs"))
    expect_value_error(sub.packed_attention_mask, torch.tensor([1.0, 2.0]), what="float segment_ids",
                       mentions=("segment_ids",))
