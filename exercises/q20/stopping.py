"""Q20: when generation stops. Read README.md first; run `pytest exercises/q20` to self-check.

Generation ends for one of three reasons: the model emits EOS ("eos"), the generated tokens end with a
stop sequence ("stop_sequence"), or max_new_tokens tokens were generated ("length").
"""
from __future__ import annotations

from typing import Callable, Sequence


def generate(step_fn: Callable[[list[int]], int], prompt: Sequence[int], max_new_tokens: int,
             eos_id: int | None = None, stop_sequences: Sequence[Sequence[int]] = ()) -> tuple[list[int], str]:
    """Generate token by token; return (tokens, reason).

    - step_fn(tokens_so_far: list[int]) -> int is the model: it is shown the prompt followed by every
      token generated so far, and returns the next token id. Call it once per new token, never more.
    - tokens: the generated ids only (not the prompt), without the EOS token and without the matched
      stop sequence. reason: "eos", "stop_sequence" or "length".
    - Checks after each new token, in this order: EOS (if eos_id is not None) -> "eos"; the generated
      tokens END with a stop sequence -> "stop_sequence" (never matched across into the prompt; if several
      end at this step, cut the longest); max_new_tokens reached -> "length".
    - max_new_tokens = 0 returns ([], "length") without calling step_fn.
    - A negative max_new_tokens or an empty stop sequence is a ValueError naming the argument.
    The one fact: the model never "decides" to stop by itself; the decoding loop stops it.
    """
    raise NotImplementedError
