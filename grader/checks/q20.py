"""Q20 checks, shared by the self-check and the hidden suite.

The step functions here are plain deterministic functions of the tokens they receive, so they behave
the same whether they are called in this process or called back from an isolated worker.
"""
from __future__ import annotations

from typing import Callable, Sequence

from .core import assert_equal, fail

REASONS = ("eos", "stop_sequence", "length")


def scripted(prompt_len: int, script: Sequence[int]) -> Callable[[list], int]:
    """A model that answers script[k] at generation step k (k = len(tokens_so_far) - prompt_len)."""
    script = [int(t) for t in script]

    def step_fn(tokens_so_far):
        k = len(tokens_so_far) - prompt_len
        if not 0 <= k < len(script):
            # Returned, not raised: the test then fails on the call count or the tokens, with a clear message.
            return -1
        return script[k]
    return step_fn


def hashing(vocab: int, seed: int, ids: Sequence[int] | None = None) -> Callable[[list], int]:
    """A model whose next token depends on EVERY token it is shown (prompt and generated, in order).

    It answers a token in range(vocab), or ids[that token] when ids is given (e.g. multi-digit ids)."""
    ids = None if ids is None else [int(t) for t in ids]

    def step_fn(tokens_so_far):
        h = 1469598103 + seed
        for t in tokens_so_far:
            h = (h * 1000003 + int(t) + 7) % 2147483647
        k = (h >> 7) % vocab
        return k if ids is None else ids[k]
    return step_fn


class Counted:
    """Wraps a step function and counts how often it was called (the count lives on this side)."""

    def __init__(self, fn: Callable[[list], int]):
        self.calls = 0
        self._fn = fn

        def step_fn(tokens_so_far):
            self.calls += 1
            return self._fn(tokens_so_far)
        self.fn = step_fn


def run(generate, step_fn, prompt, max_new_tokens, eos_id=None, stop_sequences=()):
    """Call generate with a counted step_fn; return (tokens, reason, calls) and check the result's form."""
    counted = Counted(step_fn)
    result = generate(counted.fn, list(prompt), max_new_tokens, eos_id=eos_id,
                      stop_sequences=[list(s) for s in stop_sequences])
    tokens, reason = unpack(result)
    return tokens, reason, counted.calls


def unpack(result) -> tuple[list[int], str]:
    """Check the form of generate's result, a pair (tokens: list of ints, reason), and return it."""
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        fail(f"generate should return a pair (tokens, reason), got {type(result).__name__}: {result!r}")
    tokens, reason = result
    if not isinstance(tokens, list) or any(isinstance(t, bool) or not isinstance(t, int) for t in tokens):
        fail(f"tokens should be a list of ints, got {tokens!r}")
    if reason not in REASONS:
        fail(f"reason should be one of {REASONS}, got {reason!r}")
    return tokens, reason


def expect(generate, step_fn, prompt, max_new_tokens, *, eos_id=None, stop_sequences=(),
           tokens: list[int], reason: str, calls: int, hint: str | None = None) -> None:
    """generate(...) must give exactly (tokens, reason) and call step_fn exactly `calls` times."""
    what = (f"generate(prompt={list(prompt)}, max_new_tokens={max_new_tokens}, eos_id={eos_id}, "
            f"stop_sequences={[list(s) for s in stop_sequences]})")
    got_tokens, got_reason, got_calls = run(generate, step_fn, prompt, max_new_tokens, eos_id, stop_sequences)
    assert_equal(got_reason, reason, f"{what}: reason", hint)
    assert_equal(got_tokens, tokens, f"{what}: tokens", hint or
                 "tokens exclude the prompt, the EOS token and the matched stop sequence")
    if got_calls != calls:
        fail(f"{what} called step_fn {got_calls} times, expected {calls}",
             hint="call the model once per new token and stop as soon as a stop condition holds "
                  "(max_new_tokens=0 means no call at all)")


def sees_prompt_and_generated(generate, *, prompt: Sequence[int], max_new_tokens: int) -> None:
    """step_fn must be shown the prompt followed by every token generated so far, in order."""
    seen: list[list[int]] = []

    def step_fn(tokens_so_far):
        seen.append([int(t) for t in tokens_so_far])
        return 11 + len(tokens_so_far) - len(prompt)  # step k answers 11 + k

    tokens, reason, _ = run(generate, step_fn, prompt, max_new_tokens)
    expected_tokens = [10 + i for i in range(1, max_new_tokens + 1)]
    assert_equal(reason, "length", "reason when no EOS or stop sequence occurs")
    assert_equal(tokens, expected_tokens, "tokens (the prompt must not be returned)")
    for k, got in enumerate(seen):
        expected = list(prompt) + expected_tokens[:k]
        if got != expected:
            fail(f"at step {k} step_fn was shown {got}, expected the prompt plus the tokens so far {expected}")
