"""Q38 property checks, shared by the self-check and the hidden suite.

Each takes the candidate's functions (or their outputs) and raises CheckFailure with one sentence.
"""
from __future__ import annotations

import contextlib
import math

import torch

from .core import assert_close, assert_equal, assert_shape, assert_tensor, fail


@contextlib.contextmanager
def _one_thread():
    """Many tiny softmaxes: on a busy machine, waking torch's worker threads for each costs milliseconds."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def runs(segment_row: list[int]) -> list[tuple[int, int, int]]:
    """(segment id, start, end) of every document in one row: maximal runs of one nonzero id."""
    out: list[tuple[int, int, int]] = []
    t = 0
    while t < len(segment_row):
        s = segment_row[t]
        end = t
        while end < len(segment_row) and segment_row[end] == s:
            end += 1
        if s != 0:
            out.append((s, t, end))
        t = end
    return out


def check_packing(pack_sequences, docs: list[list[int]], max_len: int, pad_id: int) -> None:
    """Every property of next-fit packing, checked on the candidate's output for these documents."""
    what = f"pack_sequences(<{len(docs)} documents>, max_len={max_len}, pad_id={pad_id})"
    out = pack_sequences(docs, max_len, pad_id)
    if not isinstance(out, (tuple, list)) or len(out) != 3:
        fail(f"{what} should return a tuple (input_ids, segment_ids, position_ids), got {type(out).__name__}")
    ids, seg, pos = (assert_tensor(x, f"{what}[{k}]") for k, x in enumerate(out))
    for name, x in (("input_ids", ids), ("segment_ids", seg), ("position_ids", pos)):
        if x.dtype != torch.long:
            fail(f"{what}: {name} has dtype {x.dtype}, expected torch.int64 (a LongTensor)")
        if x.dim() != 2 or x.shape[1] != max_len:
            fail(f"{what}: {name} has shape {tuple(x.shape)}, expected [R, {max_len}]")
    if not (ids.shape == seg.shape == pos.shape):
        fail(f"{what}: the three outputs have different shapes {tuple(ids.shape)}, {tuple(seg.shape)}, "
             f"{tuple(pos.shape)}")
    found: list[list[int]] = []
    free_before: list[int] = []  # room left in each row once its documents are placed
    for r, (id_row, seg_row, pos_row) in enumerate(zip(ids.tolist(), seg.tolist(), pos.tolist())):
        row_runs = runs(seg_row)
        if not row_runs:
            fail(f"{what}: row {r} holds no document (segment_ids all 0)")
        if [s for s, _, _ in row_runs] != list(range(1, len(row_runs) + 1)):
            fail(f"{what}: row {r} has segment ids {seg_row}; the documents of a row are numbered 1, 2, 3, ... "
                 f"from the left, restarting in every row, and 0 marks padding",
                 hint="segment ids restart at 1 in every row")
        end = row_runs[-1][2]
        if row_runs[0][1] != 0 or any(a[2] != b[1] for a, b in zip(row_runs, row_runs[1:])):
            fail(f"{what}: row {r} has padding between or before documents (segment_ids {seg_row}); "
                 f"documents are packed back to back from the start of the row")
        if any(s != 0 for s in seg_row[end:]) or any(t != pad_id for t in id_row[end:]) \
                or any(p != 0 for p in pos_row[end:]):
            fail(f"{what}: the padding of row {r} (positions {end}..{max_len - 1}) should have input_ids = pad_id "
                 f"({pad_id}), segment_ids = 0 and position_ids = 0; got input_ids {id_row[end:]}, "
                 f"segment_ids {seg_row[end:]}, position_ids {pos_row[end:]}")
        for s, a, b in row_runs:
            if pos_row[a:b] != list(range(b - a)):
                fail(f"{what}: document {s} of row {r} (columns {a}..{b - 1}) has position_ids {pos_row[a:b]}, "
                     f"expected {list(range(b - a))}",
                     hint="positions restart at 0 for every document, as if it were alone")
            found.append(id_row[a:b])
        free_before.append(max_len - end)
    if found != [list(d) for d in docs]:
        k = next((i for i, (a, b) in enumerate(zip(found, docs)) if a != list(b)), min(len(found), len(docs)))
        fail(f"{what}: reading the documents back row by row (runs of one segment id) gives {len(found)} "
             f"documents, expected the {len(docs)} inputs in order; first difference at document {k}: "
             f"got {found[k] if k < len(found) else None}, expected {docs[k] if k < len(docs) else None}",
             hint="documents keep their order; one that does not fit starts a new row")
    # Next-fit: a row is closed only when the next document does not fit into what is left of it.
    first_of_row = []
    i = 0
    for seg_row in seg.tolist():
        first_of_row.append(i)
        i += len(runs(seg_row))
    for r in range(1, len(first_of_row)):
        nxt = len(docs[first_of_row[r]])
        if nxt <= free_before[r - 1]:
            fail(f"{what}: row {r - 1} still had room for {free_before[r - 1]} tokens, yet the next document "
                 f"(index {first_of_row[r]}, {nxt} tokens) started row {r}",
                 hint="next-fit: add each document to the current row while it fits; start a new row only when "
                      "it does not")


def attention_mask_by_hand(packed_attention_mask) -> None:
    """Two documents (3 and 2 tokens) and one pad: block-diagonal AND causal, padding sees nothing."""
    T, F = True, False
    expected = torch.tensor([[T, F, F, F, F, F],
                             [T, T, F, F, F, F],
                             [T, T, T, F, F, F],
                             [F, F, F, T, F, F],
                             [F, F, F, T, T, F],
                             [F, F, F, F, F, F]])
    assert_close(packed_attention_mask(torch.tensor([1, 1, 1, 2, 2, 0])), expected,
                 "packed_attention_mask([1, 1, 1, 2, 2, 0])",
                 hint="block-diagonal AND causal; the padding row and column are all False")


def attention_matches_separate(packed_attention_mask, segment_ids: torch.Tensor, *, d: int, seed: int,
                               dtype=torch.float64) -> None:
    """Attention over a packed row with the candidate's mask equals attention over each document alone.

    Plain torch math: scores = q k^T / sqrt(d), masked to -inf, softmax, @ v; random q/k/v per token.
    Padding must attend to nothing and nothing may attend to padding.
    """
    seg = segment_ids
    T = seg.shape[-1]
    what = f"packed_attention_mask(segment_ids of shape {tuple(seg.shape)})"
    mask = packed_attention_mask(seg.clone())
    assert_shape(mask, (*seg.shape, T), what)
    if mask.dtype != torch.bool:
        fail(f"{what} has dtype {mask.dtype}, expected torch.bool (True = may attend)")
    with _one_thread():
        _compare_with_separate(mask, seg, what, d=d, seed=seed, dtype=dtype)


def _compare_with_separate(mask: torch.Tensor, seg: torch.Tensor, what: str, *, d: int, seed: int, dtype) -> None:
    T = seg.shape[-1]
    g = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(*seg.shape, d, generator=g, dtype=dtype) for _ in range(3))  # [..., T, d]
    scores = q @ k.transpose(-2, -1) / math.sqrt(d)
    weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)  # NaN rows only for padding
    packed = weights @ v  # [..., T, d]
    flat_seg = seg.reshape(-1, T)
    flat_mask = mask.reshape(-1, T, T)
    flat = [x.reshape(-1, T, d) for x in (q, k, v, packed)]
    for r, seg_row in enumerate(flat_seg.tolist()):
        pad = [t for t, s in enumerate(seg_row) if s == 0]
        if pad and bool(flat_mask[r][pad].any()):
            fail(f"{what}: a padding query attends to something (row {r}, segment_ids {seg_row})",
                 hint="padding attends to nothing: its whole mask row is False")
        if pad and bool(flat_mask[r][:, pad].any()):
            fail(f"{what}: a query attends to a padding key (row {r}, segment_ids {seg_row})",
                 hint="nothing attends to padding: padding columns are all False")
        for s, a, b in runs(seg_row):
            qq, kk, vv, got = (x[r, a:b] for x in flat)
            n = b - a
            alone = torch.softmax((qq @ kk.T / math.sqrt(d)).masked_fill(
                ~torch.ones(n, n, dtype=torch.bool).tril(), float("-inf")), dim=-1) @ vv
            assert_close(got, alone, f"attention of document {s} (columns {a}..{b - 1}) in packed row {r}, "
                                     f"against the same document alone ({dtype})",
                         hint="a token may attend only to earlier-or-same tokens of its own document "
                              "(block-diagonal AND causal)",
                         example=f"segment_ids row {seg_row}")


def loss_mask_within_documents(packed_loss_mask, segment_ids: torch.Tensor) -> None:
    """The loss mask is True exactly where the next token belongs to the same document."""
    seg = segment_ids
    what = f"packed_loss_mask(segment_ids of shape {tuple(seg.shape)})"
    got = packed_loss_mask(seg.clone())
    assert_shape(got, seg.shape, what)
    if got.dtype != torch.bool:
        fail(f"{what} has dtype {got.dtype}, expected torch.bool")
    T = seg.shape[-1]
    for r, (row, m) in enumerate(zip(seg.reshape(-1, T).tolist(), got.reshape(-1, T).tolist())):
        for t in range(T):
            same_doc = t + 1 < T and row[t] != 0 and row[t + 1] == row[t]
            if m[t] and not same_doc:
                fail(f"{what}: row {r} position {t} is True, but its label (token {t + 1}) "
                     f"{'does not exist' if t + 1 >= T else 'is padding' if row[t] == 0 else 'starts another document'}"
                     f" (segment_ids {row})",
                     hint="the label at t is token t+1: the last token of each document has no label of its own")
            if same_doc and not m[t]:
                fail(f"{what}: row {r} position {t} is False, but token {t + 1} continues the same document "
                     f"(segment_ids {row}), so the loss there must count")


def cu_seqlens_slices_documents(cu_seqlens, segment_ids: torch.Tensor, input_ids: torch.Tensor,
                                docs: list[list[int]]) -> None:
    """cu_seqlens(segment_ids) is int32, starts with 0, and slices the unpadded tokens into the documents."""
    what = f"cu_seqlens(segment_ids of shape {tuple(segment_ids.shape)})"
    cu = assert_tensor(cu_seqlens(segment_ids.clone()), what)
    if cu.dtype != torch.int32:
        fail(f"{what} has dtype {cu.dtype}, expected torch.int32 (what flash-attn's varlen kernels take)")
    assert_shape(cu, (len(docs) + 1,), what, hint="one offset per document plus the leading 0")
    values = cu.tolist()
    if values[0] != 0:
        fail(f"{what} starts with {values[0]}, expected 0 (cu_seqlens[i]:cu_seqlens[i+1] is document i)")
    flat = input_ids[segment_ids != 0].tolist()  # the tokens with the padding removed, row-major
    for i, doc in enumerate(docs):
        if flat[values[i]:values[i + 1]] != list(doc):
            fail(f"{what} = {values}: slice {i} of the unpadded tokens is {flat[values[i]:values[i + 1]]}, "
                 f"expected document {i} = {list(doc)}",
                 hint="offsets count real tokens only (padding excluded); a document never continues into "
                      "the next row")
    assert_equal(values[-1], len(flat), f"{what}[-1] (the number of real tokens)")
