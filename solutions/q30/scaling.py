"""Q30 reference: ~12·L·d² parameters, growing a config by a factor (balanced), Chinchilla tokens, 6·N·D."""
from __future__ import annotations

import math

REQUIRED = ("n_layers", "d_model", "n_heads", "head_dim")
TOLERANCE = 0.05  # among configs this close to the target, the most balanced one wins


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def _positive_number(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return value


def approx_params(n_layers: int, d_model: int) -> int:
    """Per layer: attention 4·d² (W_q, W_k, W_v, W_o) + MLP 8·d² (d -> 4d -> d); embeddings excluded."""
    _positive_int("n_layers", n_layers)
    _positive_int("d_model", d_model)
    return 12 * n_layers * d_model * d_model


def _check_config(config) -> tuple[int, int, int, int]:
    if not isinstance(config, dict):
        raise ValueError(f"config must be a dict, got {type(config).__name__}")
    missing = [k for k in REQUIRED if k not in config]
    if missing:
        raise ValueError(f"config lacks {', '.join(missing)}")
    n_layers, d_model, n_heads, head_dim = (_positive_int(f"config[{k!r}]", config[k]) for k in REQUIRED)
    if n_heads * head_dim != d_model:
        raise ValueError(f"config: d_model ({d_model}) must equal n_heads·head_dim ({n_heads}·{head_dim})")
    return n_layers, d_model, n_heads, head_dim


def scale_config(config: dict, factor: float) -> dict:
    """A new config with about factor × approx_params, head_dim kept, width and depth grown together.

    Balanced growth: L·d² grows by factor when each of L and d grows by factor**(1/3). d must stay a
    multiple of head_dim, so try every head count from the current one up to what width alone would
    need; for each, pick the depth that lands closest to the target; among those within 5% of it, keep
    the one whose width growth is closest to factor**(1/3) (else the most accurate one).
    """
    n_layers, d_model, n_heads, head_dim = _check_config(config)
    _positive_number("factor", factor)
    if factor < 1:
        raise ValueError(f"factor must be >= 1 (this scales a model up), got {factor!r}")
    target = factor * approx_params(n_layers, d_model)
    balanced = math.log(factor) / 3
    options = []
    for heads in range(n_heads, math.ceil(n_heads * math.sqrt(factor)) + 2):
        d = heads * head_dim                            # d_model stays a multiple of head_dim
        layers = max(1, round(target / (12 * d * d)))  # the depth closest to the target for this width
        error = abs(12 * layers * d * d / target - 1)
        off_balance = abs(math.log(d / d_model) - balanced)
        options.append((error, off_balance, heads, layers))
    close = [o for o in options if o[0] <= TOLERANCE]
    error, _, heads, layers = min(close, key=lambda o: (o[1], o[0])) if close else min(options)
    new = dict(config)  # other keys (vocab_size, n_ctx, ...) are carried over unchanged
    new.update(n_layers=layers, d_model=heads * head_dim, n_heads=heads, head_dim=head_dim)
    return new


def chinchilla_tokens(n_params: float) -> float:
    """Compute-optimal training tokens (Hoffmann et al. 2022): about 20 tokens per parameter."""
    _positive_number("n_params", n_params)
    return 20 * n_params


def training_flops(n_params: float, n_tokens: float) -> float:
    """Training compute ≈ 6·N·D: 2·N per token forward (a multiply-add per weight), 4·N backward."""
    _positive_number("n_params", n_params)
    _positive_number("n_tokens", n_tokens)
    return 6 * n_params * n_tokens
