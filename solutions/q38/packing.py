"""Q38 reference: packing documents into fixed-length rows without cross-talk.

Segment ids number the documents of a row 1, 2, 3, ... (restarting in every row); 0 is padding.
"""
from __future__ import annotations

import torch


def _tokens(doc, i: int) -> list[int]:
    """One document as a list of ints (a list/tuple of ints or a 1-D integer tensor)."""
    if isinstance(doc, torch.Tensor):
        if doc.dim() != 1 or doc.dtype.is_floating_point or doc.dtype.is_complex or doc.dtype == torch.bool:
            raise ValueError(f"seqs[{i}] must be a 1-D integer tensor or a list of ints, "
                             f"got a {doc.dtype} tensor of shape {tuple(doc.shape)}")
        doc = doc.tolist()
    if not isinstance(doc, (list, tuple)) or not all(isinstance(t, int) and not isinstance(t, bool) for t in doc):
        raise ValueError(f"seqs[{i}] must be a list of ints, got {doc!r:.80}")
    if len(doc) == 0:
        raise ValueError(f"seqs[{i}] is empty; every document needs at least one token")
    return list(doc)


def pack_sequences(seqs, max_len: int, pad_id: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pack documents in order into rows of max_len tokens (next-fit).

    Returns (input_ids, segment_ids, position_ids), each a LongTensor [R, max_len]:
    input_ids holds the tokens (pad_id after the last document of a row), segment_ids numbers the
    documents of each row from 1 (0 = padding), position_ids counts 0, 1, ... inside each document
    (0 on padding).
    """
    if isinstance(max_len, bool) or not isinstance(max_len, int) or max_len < 1:
        raise ValueError(f"max_len must be a positive int, got {max_len!r}")
    if isinstance(pad_id, bool) or not isinstance(pad_id, int):
        raise ValueError(f"pad_id must be an int, got {pad_id!r}")
    if not isinstance(seqs, (list, tuple)):
        raise ValueError(f"seqs must be a list of documents, got {type(seqs).__name__}")
    docs = [_tokens(doc, i) for i, doc in enumerate(seqs)]
    for i, doc in enumerate(docs):
        if len(doc) > max_len:
            raise ValueError(f"seqs[{i}] has {len(doc)} tokens, longer than max_len={max_len}")

    rows: list[list[list[int]]] = []  # rows[r] = the documents packed into row r
    free: list[int] = []  # room left in each row
    for doc in docs:
        row = len(free) - 1 if free and free[-1] >= len(doc) else None  # next-fit: only the current row
        if row is None:  # it does not fit: start a new row
            rows.append([])
            free.append(max_len)
            row = len(free) - 1
        rows[row].append(doc)
        free[row] -= len(doc)

    R = len(rows)
    input_ids = torch.full((R, max_len), pad_id, dtype=torch.long)  # [R, max_len]
    segment_ids = torch.zeros((R, max_len), dtype=torch.long)  # [R, max_len], 0 = padding
    position_ids = torch.zeros((R, max_len), dtype=torch.long)  # [R, max_len]
    for r, row_docs in enumerate(rows):
        start = 0
        for s, doc in enumerate(row_docs, start=1):
            end = start + len(doc)
            input_ids[r, start:end] = torch.tensor(doc, dtype=torch.long)
            segment_ids[r, start:end] = s
            position_ids[r, start:end] = torch.arange(len(doc))  # positions restart for every document
            start = end
    return input_ids, segment_ids, position_ids


def _check_segments(segment_ids, name: str = "segment_ids") -> torch.Tensor:
    if not isinstance(segment_ids, torch.Tensor):
        raise ValueError(f"{name} must be a tensor, got {type(segment_ids).__name__}")
    if segment_ids.dtype.is_floating_point or segment_ids.dtype.is_complex or segment_ids.dtype == torch.bool:
        raise ValueError(f"{name} must be an integer tensor, got {segment_ids.dtype}")
    if segment_ids.dim() < 1:
        raise ValueError(f"{name} must have shape [..., T], got a 0-d tensor")
    if segment_ids.numel() and int(segment_ids.min()) < 0:
        raise ValueError(f"{name} must be >= 0 (0 = padding), got {int(segment_ids.min())}")
    return segment_ids


def packed_attention_mask(segment_ids: torch.Tensor) -> torch.Tensor:
    """Bool [..., T, T]: (i, j) is True iff j <= i, both in the same document, and i is not padding."""
    seg = _check_segments(segment_ids)  # [..., T]
    T = seg.shape[-1]
    same = seg.unsqueeze(-1) == seg.unsqueeze(-2)  # [..., T, T] same document (or both padding)
    real = (seg != 0).unsqueeze(-1)  # [..., T, 1] the query is a real token (then so is every key it may see)
    causal = torch.ones(T, T, dtype=torch.bool, device=seg.device).tril()  # [T, T]
    return same & real & causal


def packed_loss_mask(segment_ids: torch.Tensor) -> torch.Tensor:
    """Bool [..., T]: True at t iff token t+1 (the label of position t) is in the same document as t."""
    seg = _check_segments(segment_ids)  # [..., T]
    out = torch.zeros(seg.shape, dtype=torch.bool, device=seg.device)
    next_same = (seg[..., 1:] == seg[..., :-1]) & (seg[..., :-1] != 0)  # [..., T-1]
    out[..., :-1] = next_same  # the last position of a row has no label
    return out


def cu_seqlens(segment_ids: torch.Tensor) -> torch.Tensor:
    """Int32 [n_docs + 1]: 0 then the cumulative document lengths, padding excluded (flash-attn varlen).

    segment_ids [..., T] is read row by row (row-major); a document is a run of one nonzero id inside
    a row, so documents never continue from one row into the next. The offsets index the tokens with
    the padding removed, e.g. input_ids[segment_ids != 0].
    """
    seg = _check_segments(segment_ids)
    rows = seg.reshape(-1, seg.shape[-1])  # [R, T]
    starts = rows != 0  # [R, T]: True where a document starts ...
    starts[:, 1:] &= rows[:, 1:] != rows[:, :-1]  # ... the id changes, or the row begins
    doc_of_token = starts.reshape(-1).cumsum(0) - 1  # [R*T] index of the document each token is in
    n_docs = int(starts.sum())
    lengths = torch.bincount(doc_of_token[rows.reshape(-1) != 0], minlength=n_docs)  # [n_docs]
    cu = torch.zeros(n_docs + 1, dtype=torch.int32)
    cu[1:] = lengths.cumsum(0)
    return cu
