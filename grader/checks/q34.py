"""Q34 property checks, shared by the self-check and the hidden suite.

RoPE rotates pair i of a head at position m by the angle m * theta_i, theta_i = base ** (-2i / d).
A model trained on L tokens has only seen angles in [0, L * theta_i) for each i.
"""
from __future__ import annotations

import torch

from .core import assert_close, assert_equal, assert_number, assert_tensor, fail


def rope_inv_freq(head_dim: int, base: float) -> torch.Tensor:
    """theta_i = base ** (-2i / d) for i = 0 .. d/2 - 1, float64 (the RoPE definition)."""
    i = torch.arange(head_dim // 2, dtype=torch.float64)
    return base ** (-2.0 * i / head_dim)


def interpolated_angles_in_range(interpolate_positions, *, trained_len: int, target_len: int, head_dim: int,
                                 base: float) -> None:
    """Every position up to target_len, interpolated with scale = target_len / trained_len, gives angles
    inside the trained range [0, trained_len * theta_i) for every frequency — and spans most of it."""
    scale = target_len / trained_len
    positions = torch.arange(target_len)
    call = f"interpolate_positions(arange({target_len}), scale={scale:g})"
    got = assert_tensor(interpolate_positions(positions, scale), call)
    if tuple(got.shape) != (target_len,) or not got.is_floating_point():
        fail(f"{call} should be a float tensor of shape ({target_len},), got {got.dtype} {tuple(got.shape)}",
             hint="integer positions come back as floats: 3 / 4 = 0.75")
    if not bool(torch.isfinite(got).all()):
        p = int((~torch.isfinite(got)).nonzero()[0, 0])
        fail(f"{call} gives {got[p].item()} at position {p}: every interpolated position must be a finite number",
             hint="positions / scale: NaN or inf is never inside the trained range")
    theta = rope_inv_freq(head_dim, base)
    angles = got.to(torch.float64)[:, None] * theta[None, :]        # [T, d/2]
    limit = trained_len * theta                                      # [d/2]
    raw_max = (target_len - 1) * theta
    assert bool((raw_max >= limit).all())  # the check itself: without interpolation every frequency leaves the range
    over = angles >= limit[None, :]
    if bool(over.any()) or bool((angles < 0).any()):
        p, i = (int(v) for v in (over | (angles < 0)).nonzero()[0])
        fail(f"{call}: position {p} -> {got[p].item():g} gives angle {angles[p, i].item():.6g} for frequency {i}, "
             f"outside the trained range [0, {limit[i].item():.6g}) of a model trained on {trained_len} tokens",
             hint="divide positions by scale = new length / trained length")
    if bool((angles.max(0).values < 0.99 * (trained_len - 1) * theta).any()):
        fail(f"{call} squeezes {target_len} positions into less than the trained range (max "
             f"{got.max().item():g}, trained on 0 .. {trained_len - 1})",
             hint="positions / scale, not positions / scale**2 or a fixed cap")


def ntk_base_interpolates_lowest_frequency(ntk_scaled_base, *, base: float, scale: float, head_dim: int) -> None:
    """With base' = ntk_scaled_base(...), theta'_i / theta_i = scale ** (-2i / (d - 2)): the fastest pair
    (i = 0) is untouched and the slowest (i = d/2 - 1) is slowed by exactly `scale`."""
    call = f"ntk_scaled_base({base:g}, {scale:g}, {head_dim})"
    new_base = ntk_scaled_base(base, scale, head_dim)
    assert_number(new_base, new_base, call)  # a plain number
    ratio = rope_inv_freq(head_dim, float(new_base)) / rope_inv_freq(head_dim, base)
    i = torch.arange(head_dim // 2, dtype=torch.float64)
    expected = scale ** (-2.0 * i / (head_dim - 2))
    assert_close(ratio, expected, f"theta_i(new base) / theta_i(old base) for the base from {call}", rtol=1e-9,
                 atol=0.0, hint="base * scale ** (d / (d - 2)) makes the slowest pair rotate exactly `scale` times "
                                "slower and leaves the fastest pair alone")


def kv_bytes_formula(n_layers, n_kv_heads, head_dim, seq_len, batch, bytes_per_elem):
    """The definition: K and V, for every layer, kv head, dim, token and sequence, bytes_per_elem each."""
    return 2 * n_layers * n_kv_heads * head_dim * seq_len * batch * bytes_per_elem


def kv_bytes_linear(kv_cache_bytes, args: dict) -> None:
    """kv_cache_bytes is the formula at ``args`` and proportional to each of its arguments."""
    base_value = kv_cache_bytes(**args)
    assert_number(base_value, kv_bytes_formula(**args), f"kv_cache_bytes({args})", rel=1e-12,
                  hint="2 (K and V) x layers x kv heads x head_dim x tokens x batch x bytes per element")
    for name in args:
        for factor in (2, 3):
            bigger = dict(args, **{name: args[name] * factor})
            got = kv_cache_bytes(**bigger)
            assert_number(got, base_value * factor, f"kv_cache_bytes with {name} x{factor} ({bigger})", rel=1e-12,
                          hint=f"the cache grows linearly in {name}")


def kv_bytes_exact(kv_cache_bytes, args: dict, expected: int, what: str) -> None:
    got = kv_cache_bytes(**args)
    if isinstance(got, float) and got.is_integer():
        got = int(got)
    assert_equal(got, expected, f"kv_cache_bytes for {what} ({args})",
                 hint="2 (K and V) x layers x kv heads x head_dim x tokens x batch x bytes per element")
