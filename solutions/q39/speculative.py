"""Q39 reference: speculative decoding (speculative sampling with a small draft model).

A cheap draft proposes gamma tokens; the target scores all of them in ONE forward pass and keeps a
prefix. The acceptance rule keeps the target's distribution exactly.
"""
from __future__ import annotations

from typing import Callable

import torch


def _check_probs(x, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got {getattr(x, 'dtype', type(x).__name__)}")
    if x.dim() != 2:
        raise ValueError(f"{name} must be 2-D [rows, V], got shape {tuple(x.shape)}")
    return x


def _sample(weights: torch.Tensor, generator: torch.Generator) -> int:
    """One index drawn with probability proportional to weights [V] (non-negative)."""
    return int(torch.multinomial(weights, 1, generator=generator))


def speculative_step(target_probs: torch.Tensor, draft_probs: torch.Tensor, draft_tokens: torch.Tensor,
                     generator: torch.Generator) -> torch.Tensor:
    """One verification step: the accepted draft tokens, then one corrected or bonus token.

    target_probs [gamma+1, V]: p_i, the target's next-token distribution before draft token i
    (row gamma: after all drafts); draft_probs [gamma, V]: q_i, the draft's; draft_tokens [gamma]: x_i ~ q_i.
    Returns a 1-D LongTensor of 1 .. gamma+1 tokens.
    """
    _check_probs(target_probs, "target_probs")
    _check_probs(draft_probs, "draft_probs")
    if not isinstance(draft_tokens, torch.Tensor) or draft_tokens.dim() != 1 or draft_tokens.is_floating_point():
        raise ValueError(f"draft_tokens must be a 1-D integer tensor [gamma], got "
                         f"{getattr(draft_tokens, 'shape', type(draft_tokens).__name__)}")
    gamma = draft_tokens.shape[0]
    V = target_probs.shape[1]
    if draft_probs.shape != (gamma, V):
        raise ValueError(f"draft_probs must have shape [gamma, V] = [{gamma}, {V}] (gamma = len(draft_tokens)), "
                         f"got {tuple(draft_probs.shape)}")
    if target_probs.shape[0] != gamma + 1:
        raise ValueError(f"target_probs must have gamma + 1 = {gamma + 1} rows (one more than draft_tokens), "
                         f"got {target_probs.shape[0]}")
    if gamma and (int(draft_tokens.min()) < 0 or int(draft_tokens.max()) >= V):
        raise ValueError(f"draft_tokens must lie in [0, V) = [0, {V}), got {draft_tokens.tolist()}")
    if not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator, got {type(generator).__name__}")

    out: list[int] = []
    for i in range(gamma):
        x = int(draft_tokens[i])
        p, q = target_probs[i], draft_probs[i]  # [V] each
        r = torch.rand((), generator=generator, dtype=torch.float64)  # uniform in [0, 1)
        if r * q[x] < p[x]:  # accept with probability min(1, p(x) / q(x))
            out.append(x)
            continue
        residual = (p - q).clamp(min=0)  # rejected: sample from norm(max(0, p - q))
        if not bool(residual.sum() > 0):  # p == q up to rounding: rejection is (almost) impossible
            residual = p
        out.append(_sample(residual, generator))
        return torch.tensor(out, dtype=torch.long)  # stop at the first rejection
    out.append(_sample(target_probs[gamma], generator))  # every draft accepted: a bonus token from p_gamma
    return torch.tensor(out, dtype=torch.long)


def expected_tokens_per_step(alpha: float, gamma: int) -> float:
    """Expected tokens emitted per target call when each draft is accepted with probability alpha.

    1 + alpha + ... + alpha^gamma = (1 - alpha^(gamma+1)) / (1 - alpha); gamma + 1 at alpha = 1.
    """
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be a probability in [0, 1], got {alpha!r}")
    if isinstance(gamma, bool) or not isinstance(gamma, int) or gamma < 0:
        raise ValueError(f"gamma must be a non-negative int, got {gamma!r}")
    return float(sum(float(alpha) ** k for k in range(gamma + 1)))  # the sum form is exact at alpha = 1


def speculative_generate(target: Callable[[torch.Tensor], torch.Tensor],
                         draft: Callable[[torch.Tensor], torch.Tensor], prompt: torch.Tensor, n_new: int,
                         gamma: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """n_new tokens after prompt [T] from the target, using the draft to propose gamma tokens per step.

    target/draft: ids LongTensor [T] -> logits [T, V] (row t = next-token logits after ids[:t+1]).
    Greedy (argmax; a draft token is kept iff it equals the target's argmax) when generator is None,
    otherwise sampling with speculative_step. Returns a LongTensor [n_new] (the last step's overflow cut).
    """
    if not isinstance(prompt, torch.Tensor) or prompt.dim() != 1 or prompt.is_floating_point() or len(prompt) == 0:
        raise ValueError(f"prompt must be a non-empty 1-D integer tensor [T], got "
                         f"{getattr(prompt, 'shape', type(prompt).__name__)}")
    if isinstance(n_new, bool) or not isinstance(n_new, int) or n_new < 0:
        raise ValueError(f"n_new must be a non-negative int, got {n_new!r}")
    if isinstance(gamma, bool) or not isinstance(gamma, int) or gamma < 0:
        raise ValueError(f"gamma must be a non-negative int, got {gamma!r}")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")

    seq = [int(t) for t in prompt.tolist()]
    new: list[int] = []
    while len(new) < n_new:
        k = min(gamma, n_new - len(new))  # no point drafting past n_new
        drafted: list[int] = []
        q_rows: list[torch.Tensor] = []
        for _ in range(k):  # k cheap draft calls, one token each
            logits = draft(torch.tensor(seq + drafted, dtype=torch.long))[-1]  # [V]
            if generator is None:
                drafted.append(int(logits.argmax()))
            else:
                q = torch.softmax(logits, dim=-1)
                q_rows.append(q)
                drafted.append(_sample(q, generator))
        logits = target(torch.tensor(seq + drafted, dtype=torch.long))  # ONE target call scores all drafts
        rows = logits[len(seq) - 1:]  # [k+1, V]: row i predicts the token after seq + drafted[:i]
        if generator is None:
            emitted = []
            for i, x in enumerate(drafted):
                best = int(rows[i].argmax())
                emitted.append(best)  # the target's own token: the draft's if they agree, else the correction
                if best != x:
                    break
            else:
                emitted.append(int(rows[k].argmax()))  # all agreed: a bonus token
        else:
            q_all = torch.stack(q_rows) if q_rows else rows.new_zeros(0, rows.shape[-1])  # [k, V]
            emitted = speculative_step(torch.softmax(rows, dim=-1), q_all, torch.tensor(drafted, dtype=torch.long),
                                       generator).tolist()
        seq += emitted
        new += emitted
    return torch.tensor(new[:n_new], dtype=torch.long)
