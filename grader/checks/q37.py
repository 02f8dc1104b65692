"""Q37 property checks, shared by the self-check and the hidden suite: what makes RoPE a rotation and
why it encodes relative positions, and the sinusoidal formula of "Attention Is All You Need"."""
from __future__ import annotations

import math

import torch

from .core import assert_close, assert_equal, fail


def _pairing(interleaved: bool) -> str:
    return "interleaved=True (pairs 2i, 2i+1)" if interleaved else "interleaved=False (pairs i, i + D/2)"


def _finite(t, what: str) -> None:
    if isinstance(t, torch.Tensor) and not bool(torch.isfinite(t).all()):  # (not a tensor: the next check says so)
        fail(f"{what} holds NaN or inf: a rotation of finite numbers is finite",
             hint="cos and sin of position · theta_i are finite; check for 0/0 or an overflowing power")


def frequencies_by_definition(rope_frequencies, *, head_dim: int, base: float) -> None:
    """theta_i = base ** (-2i / head_dim), written out with math (float64)."""
    expected = torch.tensor([base ** (-2 * i / head_dim) for i in range(head_dim // 2)], dtype=torch.float64)
    assert_close(rope_frequencies(head_dim, base), expected, f"rope_frequencies({head_dim}, {base:g})", rtol=1e-12,
                 atol=0.0, hint="theta_i = base^(-2i/d) for i = 0 .. d/2 - 1: theta_0 = 1, then exponents 2/d, 4/d, ...")


def rotation_by_definition(apply_rope, *, interleaved: bool, seed: int, base: float = 10000.0, d: int = 8) -> None:
    """apply_rope against the rotation written out pair by pair with math.cos / math.sin (seeded x and
    positions): pair i of token t, (a, b), becomes (a cos - b sin, b cos + a sin) at angle pos[t] * theta_i."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(5, d, generator=g, dtype=torch.float64)
    pos = torch.randint(0, 3000, (5,), generator=g)
    pairs = [(2 * i, 2 * i + 1) if interleaved else (i, i + d // 2) for i in range(d // 2)]
    rows = []
    for t in range(5):
        row = [0.0] * d
        for i, (ia, ib) in enumerate(pairs):
            angle = int(pos[t]) * base ** (-2 * i / d)
            c, s_ = math.cos(angle), math.sin(angle)
            a, b = float(x[t, ia]), float(x[t, ib])
            row[ia], row[ib] = a * c - b * s_, b * c + a * s_
        rows.append(row)
    assert_close(apply_rope(x, pos, base=base, interleaved=interleaved), torch.tensor(rows, dtype=torch.float64),
                 f"apply_rope(x [5, {d}], positions {pos.tolist()}, base={base:g}, {_pairing(interleaved)})",
                 hint="pair i turns by position · base^(-2i/D); (a, b) -> (a·cos − b·sin, b·cos + a·sin)")


def preserves_norms(apply_rope, *, interleaved: bool, seed: int, dtype=torch.float64) -> None:
    """A rotation never changes a vector's length: ||rope(x)|| = ||x|| for every token."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, 3, 9, 16, generator=g, dtype=dtype)
    positions = torch.randint(0, 5000, (9,), generator=g)
    y = apply_rope(x, positions, interleaved=interleaved)
    assert_close(y.norm(dim=-1), x.norm(dim=-1), f"the per-token norms of apply_rope(x, positions, "
                 f"{_pairing(interleaved)}) against those of x ({dtype})",
                 hint="each pair (a, b) becomes (a·cos − b·sin, b·cos + a·sin): a rotation keeps lengths; "
                      "every dim must belong to exactly one pair")


def identity_at_position_zero(apply_rope, *, interleaved: bool, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(4, 10, generator=g, dtype=torch.float64)
    assert_close(apply_rope(x, torch.zeros(4, dtype=torch.long), interleaved=interleaved), x,
                 f"apply_rope(x, positions=0, {_pairing(interleaved)})",
                 hint="the angle is position · theta_i, so position 0 is no rotation at all")


def scores_depend_only_on_offset(apply_rope, *, interleaved: bool, seed: int, trials: int = 20,
                                 base: float = 10000.0) -> None:
    """<rope(q, m), rope(k, n)> = <rope(q, m + s), rope(k, n + s)> for random m, n, shifts s."""
    g = torch.Generator().manual_seed(seed)
    d = 32
    q = torch.randn(trials, d, generator=g, dtype=torch.float64)
    k = torch.randn(trials, d, generator=g, dtype=torch.float64)
    m = torch.randint(0, 2000, (trials,), generator=g)
    n = torch.randint(0, 2000, (trials,), generator=g)
    s = torch.randint(-1000, 3000, (trials,), generator=g)
    s = torch.maximum(s, -torch.minimum(m, n))                    # keep every position >= 0
    kw = dict(base=base, interleaved=interleaved)
    before = (apply_rope(q, m, **kw) * apply_rope(k, n, **kw)).sum(-1)
    after = (apply_rope(q, m + s, **kw) * apply_rope(k, n + s, **kw)).sum(-1)
    _finite(before, f"<rope(q, m), rope(k, n)> ({_pairing(interleaved)})")
    assert_close(after, before, f"<rope(q, m + s), rope(k, n + s)> against <rope(q, m), rope(k, n)> for "
                 f"{trials} random (m, n, s), {_pairing(interleaved)}, base={base:g}", rtol=1e-9, atol=1e-9,
                 hint="q and k must be rotated by the SAME per-pair frequencies theta_i, each by its own "
                      "position: then R(m)ᵀR(n) = R(n − m)")
    if torch.allclose(before, (q * k).sum(-1), rtol=1e-6, atol=1e-6):
        fail("apply_rope leaves <q, k> unchanged for different positions m != n: nothing was rotated")


def pairings_are_a_permutation(apply_rope, *, seed: int, dtype=torch.float64) -> None:
    """The two conventions rotate the same pairs laid out differently: interleaved = P⁻¹ ∘ half-split ∘ P,
    where P moves dims (2i, 2i+1) to (i, i + D/2). They disagree on the same tensor."""
    g = torch.Generator().manual_seed(seed)
    d = 12
    x = torch.randn(3, 7, d, generator=g, dtype=dtype)
    pos = torch.arange(7) + 3
    to_half = torch.cat((torch.arange(0, d, 2), torch.arange(1, d, 2)))   # P: [0, 2, 4, ..., 1, 3, 5, ...]
    back = torch.argsort(to_half)
    inter = apply_rope(x, pos, interleaved=True)
    half = apply_rope(x[..., to_half], pos, interleaved=False)[..., back]
    _finite(inter, "apply_rope(x, interleaved=True)")
    assert_close(inter, half, "apply_rope(x, interleaved=True) against the half-split pairing applied to x "
                 "with dims (2i, 2i+1) moved to (i, i + D/2)",
                 hint="interleaved=True rotates (x[2i], x[2i+1]) by theta_i; interleaved=False rotates "
                      "(x[i], x[i + D/2]) by theta_i")
    if torch.allclose(apply_rope(x, pos, interleaved=False), inter, rtol=1e-6, atol=1e-6):
        fail("apply_rope gives the same result for interleaved=True and interleaved=False: they pair different "
             "dims (half-split: i with i + D/2; interleaved: 2i with 2i+1)")


def sinusoidal_matches_formula(sinusoidal_positions, *, T: int, d: int) -> None:
    """PE[p, 2i] = sin(p / 10000^(2i/d)), PE[p, 2i+1] = cos(p / 10000^(2i/d)), written out with math."""
    expected = torch.tensor([[math.sin(p / 10000 ** (2 * (j // 2) / d)) if j % 2 == 0
                              else math.cos(p / 10000 ** (2 * (j // 2) / d)) for j in range(d)]
                             for p in range(T)], dtype=torch.float64)
    assert_close(sinusoidal_positions(T, d), expected, f"sinusoidal_positions({T}, {d})",
                 hint="sin on even dims 2i and cos on odd dims 2i+1, both of p / 10000^(2i/d); float64")


def wavelengths_count_by_definition(rope_wavelengths_beyond, *, head_dim: int, base: float,
                                    trained_len: float) -> None:
    """Count pairs with 2π·base^(2i/d) > trained_len, written out with math."""
    expected = sum(1 for i in range(head_dim // 2) if 2 * math.pi * base ** (2 * i / head_dim) > trained_len)
    assert_equal(rope_wavelengths_beyond(head_dim, base, trained_len), expected,
                 f"rope_wavelengths_beyond({head_dim}, {base:g}, {trained_len:g})",
                 hint="pair i turns once every 2π / theta_i = 2π · base^(2i/d) positions; count those longer "
                      "than trained_len, as a Python int")
