"""Q38: packing documents into fixed-length rows without cross-talk. Read README.md first;
run `pytest exercises/q38` to self-check.

Segment ids number the documents of a row 1, 2, 3, ... (restarting in every row); 0 is padding.
Masks are boolean with True = "may attend".
"""
from __future__ import annotations

import torch


def pack_sequences(seqs, max_len: int, pad_id: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pack documents (lists of ints), in order, into rows of max_len tokens: next-fit.

    Put each document into the current row if it fits; otherwise start a new row with it (never go
    back to an earlier row). Returns (input_ids, segment_ids, position_ids), each a LongTensor
    [R, max_len]:
    - input_ids: the tokens, then pad_id to the end of the row;
    - segment_ids: 1 for the first document of the row, 2 for the second, ...; 0 on padding;
    - position_ids: 0, 1, 2, ... inside each document (restarting for every document); 0 on padding.
    A document longer than max_len, an empty document, or max_len < 1 is a ValueError.
    The one fact: every document must see the world as if it were alone in its own row.
    """
    raise NotImplementedError


def packed_attention_mask(segment_ids: torch.Tensor) -> torch.Tensor:
    """segment_ids [..., T] (integers, 0 = padding) -> BoolTensor [..., T, T].

    (i, j) is True iff j <= i, tokens i and j are in the same document, and i is not padding:
    block-diagonal AND causal; a padding query attends to nothing and no query attends to padding.
    A non-integer segment_ids is a ValueError.
    """
    raise NotImplementedError


def packed_loss_mask(segment_ids: torch.Tensor) -> torch.Tensor:
    """segment_ids [..., T] -> BoolTensor [..., T].

    Position t predicts token t+1 (its label). True at t iff token t+1 is in the same document as
    token t (and t is not padding); so the last token of every document, padding and the last
    position of the row are False.
    """
    raise NotImplementedError


def cu_seqlens(segment_ids: torch.Tensor) -> torch.Tensor:
    """segment_ids [T] or [..., T] -> IntTensor (int32) [n_docs + 1], flash-attn's varlen convention.

    Rows are read one after the other (leading dims flattened row-major); a document is a run of one
    nonzero id inside a row and never continues into the next row. Returns 0 followed by the
    cumulative document lengths, padding excluded: document i is tokens[cu[i]:cu[i+1]] of
    input_ids[segment_ids != 0].
    """
    raise NotImplementedError
