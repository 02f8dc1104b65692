"""Q37: rotary position embeddings (RoPE). Read README.md first; run `pytest exercises/q37` to self-check.

The one fact: RoPE rotates each pair of dims of q and k by the angle position * theta_i, with
theta_i = base^(-2i/d). Rotations compose, so <rope(q, m), rope(k, n)> depends only on n - m.
Nothing is added to the embeddings, and a rotation never changes a vector's length.
"""
from __future__ import annotations

import math

import torch


def rope_frequencies(head_dim: int, base: float = 10000.0) -> torch.Tensor:
    """inv_freq [head_dim // 2], float64: theta_i = base ** (-2i / head_dim) for i = 0 .. head_dim/2 - 1.

    theta_0 = 1 (the fastest pair: one turn every 2*pi tokens); the last pair is the slowest.
    head_dim must be a positive even int; base a positive number (ValueError otherwise).
    """
    raise NotImplementedError


def apply_rope(x: torch.Tensor, positions, base: float = 10000.0, interleaved: bool = False) -> torch.Tensor:
    """Rotate the pairs of x [..., T, D] by the angles positions[t] * theta_i; same shape and dtype as x.

    positions: [T] (ints, or floats after position interpolation), or any shape that broadcasts against
    x.shape[:-1] (e.g. [B, 1, T] for x [B, H, T, D]); ValueError if it does not.
    Pairing (D must be even, ValueError otherwise):
      interleaved=False  pairs (x[i], x[i + D/2])   the "rotate_half" layout of Llama in HF transformers
      interleaved=True   pairs (x[2i], x[2i + 1])   RoFormer and Meta's original Llama code
    Pair i, with (a, b), becomes (a*cos - b*sin, b*cos + a*sin), angle = position * theta_i.
    Compute the angles in float64 (positions reach the thousands), then cast cos/sin to x's dtype.
    Do not modify x.
    """
    raise NotImplementedError


def sinusoidal_positions(T: int, d: int) -> torch.Tensor:
    """The absolute positions of "Attention Is All You Need", [T, d] float64:

        PE[pos, 2i]     = sin(pos / 10000 ** (2i / d))
        PE[pos, 2i + 1] = cos(pos / 10000 ** (2i / d))

    T a non-negative int, d a positive even int (ValueError otherwise).
    """
    raise NotImplementedError


def rope_wavelengths_beyond(head_dim: int, base: float, trained_len: float) -> int:
    """How many of the head_dim/2 frequency pairs have a wavelength 2*pi / theta_i longer than trained_len.

    Those pairs never completed a full turn during training, so positions beyond trained_len give
    them angles the model has never seen. Returns a Python int; trained_len must be positive.
    """
    raise NotImplementedError
