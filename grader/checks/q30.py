"""Q30 property checks, shared by the self-check and the hidden suite."""
from __future__ import annotations

import copy

from .core import fail

REQUIRED = ("n_layers", "d_model", "n_heads", "head_dim")


def params(config: dict) -> int:
    """The statement's count: 12·L·d² (attention 4·d² + MLP 8·d² per layer)."""
    return 12 * config["n_layers"] * config["d_model"] ** 2


def _show(config: dict) -> str:
    return "{" + ", ".join(f"{k}={config[k]!r}" for k in REQUIRED if k in config) + "}"


def check_invariants(config, what: str) -> None:
    if not isinstance(config, dict):
        fail(f"{what} should be a dict, got {type(config).__name__}")
    for k in REQUIRED:
        if k not in config:
            fail(f"{what} = {config!r} lacks the key {k!r}")
        v = config[k]
        if type(v) is not int:
            fail(f"{what}: {k} = {v!r} is a {type(v).__name__}; layer, head and width counts must be ints",
                 hint="round() with one argument returns an int; round(x, 0) and x // 1 on floats do not")
        if v < 1:
            fail(f"{what}: {k} = {v} must be at least 1")
    if config["d_model"] != config["n_heads"] * config["head_dim"]:
        fail(f"{what} = {_show(config)}: d_model must equal n_heads·head_dim "
             f"({config['n_heads']}·{config['head_dim']} = {config['n_heads'] * config['head_dim']})",
             hint="choose the head count first, then d_model = n_heads·head_dim")


def check_scaled(scale_config, config: dict, factor: float, *, within: float = 0.10) -> dict:
    """scale_config(config, factor): invariants, head_dim kept, other keys kept, params within 10%."""
    before = copy.deepcopy(config)
    what = f"scale_config({_show(config)}, {factor!r})"
    new = scale_config(config, factor)
    if config != before:
        fail(f"{what} changed its input config in place; return a new dict")
    check_invariants(new, what)
    if new["head_dim"] != config["head_dim"]:
        fail(f"{what} = {_show(new)} changed head_dim from {config['head_dim']}",
             hint="keep head_dim; grow the number of heads with the width")
    for k, v in config.items():
        if k not in REQUIRED and new.get(k, object()) != v:
            fail(f"{what}: the key {k!r} = {v!r} should be carried over unchanged, got {new.get(k, '<missing>')!r}")
    ratio = params(new) / (factor * params(config))
    if abs(ratio - 1) > within:
        fail(f"{what} = {_show(new)} has 12·L·d² = {params(new):,}, which is {ratio:.3f}× the target "
             f"{factor}·{params(config):,} (allowed: within {within:.0%})",
             hint="after rounding the width to a multiple of head_dim, choose the depth that hits the target")
    return new


def check_balanced(config: dict, new: dict, factor: float) -> None:
    """Width and depth both grow, each by at least factor**(1/6) (balanced growth is about factor**(1/3))."""
    least = factor ** (1 / 6)
    what = f"scale_config({_show(config)}, {factor!r}) = {_show(new)}"
    for k, name in (("n_layers", "depth"), ("d_model", "width")):
        growth = new[k] / config[k]
        if growth < least - 1e-12:
            fail(f"{what}: the {name} ({k}) grew only {growth:.2f}×; both depth and width must grow, each by at "
                 f"least factor**(1/6) = {least:.2f}×",
                 hint="params ∝ L·d²: growing each of L and d by factor**(1/3) multiplies them by factor")
