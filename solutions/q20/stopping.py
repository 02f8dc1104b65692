"""Q20 reference: when generation stops (EOS, a stop sequence, or the length limit)."""
from __future__ import annotations

from typing import Callable, Sequence


def _token_list(name: str, seq) -> list[int]:
    try:
        items = list(seq)
    except TypeError:
        raise ValueError(f"{name} must be a sequence of token ids (ints), got {type(seq).__name__}") from None
    out = []
    for t in items:
        if isinstance(t, bool) or not isinstance(t, int):
            raise ValueError(f"{name} must hold int token ids, got {t!r}")
        out.append(t)
    return out


def generate(step_fn: Callable[[list[int]], int], prompt: Sequence[int], max_new_tokens: int,
             eos_id: int | None = None, stop_sequences: Sequence[Sequence[int]] = ()) -> tuple[list[int], str]:
    """Call step_fn once per new token until EOS, a stop sequence, or max_new_tokens; return (tokens, reason)."""
    if not callable(step_fn):
        raise ValueError("step_fn must be callable: step_fn(tokens_so_far) -> next token id")
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be a non-negative int, got {max_new_tokens!r}")
    if eos_id is not None and (isinstance(eos_id, bool) or not isinstance(eos_id, int)):
        raise ValueError(f"eos_id must be an int or None, got {eos_id!r}")
    context = _token_list("prompt", prompt)  # what step_fn sees: prompt + generated
    stops = [_token_list("stop_sequences", s) for s in stop_sequences]
    if any(len(s) == 0 for s in stops):
        raise ValueError("stop_sequences may not contain an empty sequence")
    new: list[int] = []  # generated tokens: never the EOS, never the prompt
    for _ in range(max_new_tokens):
        token = int(step_fn(list(context)))
        if eos_id is not None and token == eos_id:
            return new, "eos"
        new.append(token)
        context.append(token)
        # Only stop sequences that END at the newest token, inside the generated part (never the prompt).
        matched = [s for s in stops if len(s) <= len(new) and new[-len(s):] == s]
        if matched:
            longest = max(len(s) for s in matched)  # cut where the earliest match begins
            return new[:-longest], "stop_sequence"
    return new, "length"
