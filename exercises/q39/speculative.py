"""Q39: speculative decoding. Read README.md first; run `pytest exercises/q39` to self-check.

A small draft model proposes gamma tokens; the big target model scores all of them in ONE forward
pass and keeps a prefix. The acceptance rule keeps the target's distribution exactly.
Randomness only through the generator argument (same seed, same result).
"""
from __future__ import annotations

from typing import Callable

import torch


def speculative_step(target_probs: torch.Tensor, draft_probs: torch.Tensor, draft_tokens: torch.Tensor,
                     generator: torch.Generator) -> torch.Tensor:
    """Verify gamma draft tokens; return a 1-D LongTensor of the emitted tokens.

    target_probs [gamma+1, V]: p_i = the target's next-token distribution before draft token i
                 (row gamma: after all drafts); draft_probs [gamma, V]: q_i, the draft's;
                 draft_tokens [gamma]: x_i, sampled from q_i.
    For i = 0, 1, ...: accept x_i with probability min(1, p_i(x_i) / q_i(x_i)) (one uniform draw);
    at the first rejection emit a sample from norm(max(0, p_i - q_i)) and stop. If every draft is
    accepted, emit a bonus token sampled from p_gamma. So 1 .. gamma+1 tokens come back.
    Shapes that do not fit together are a ValueError naming the argument. Draw every random number
    fresh from generator (torch.rand / torch.multinomial with generator=...): successive calls must be
    independent samples, not a quasi-random sequence.
    The one fact: with this rule each emitted token is distributed exactly as the target's.
    """
    raise NotImplementedError


def expected_tokens_per_step(alpha: float, gamma: int) -> float:
    """Expected number of tokens one step emits when each draft is accepted with probability alpha:
    1 + alpha + ... + alpha^gamma = (1 - alpha^(gamma+1)) / (1 - alpha), and gamma + 1 at alpha = 1.
    alpha outside [0, 1] or gamma < 0 is a ValueError.
    """
    raise NotImplementedError


def speculative_generate(target: Callable[[torch.Tensor], torch.Tensor],
                         draft: Callable[[torch.Tensor], torch.Tensor], prompt: torch.Tensor, n_new: int,
                         gamma: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Generate n_new tokens after prompt [T] (a LongTensor) with the target's distribution.

    target, draft: ids LongTensor [T] -> logits [T, V]; row t is the next-token logits after ids[:t+1].
    Each step: call the draft gamma times (one token each), then call the target ONCE on
    prompt-so-far + drafts; its rows T-1 .. T-1+gamma are p_0 .. p_gamma.
    generator None: greedy (a draft is kept iff it equals the target's argmax; at the first mismatch
    emit the target's argmax; if all match, also the target's argmax after the last draft).
    Otherwise: drafts sampled from softmax(draft logits), verified by speculative_step.
    Returns a LongTensor [n_new] (the prompt not included; cut the last step's overflow).
    """
    raise NotImplementedError
