"""Q31 reference: every weight's shape ([in, out], applied as x @ W) and the parameter count."""
from __future__ import annotations

import math

from model_config import ModelConfig

CHOICES = {"norm": ("layernorm", "rmsnorm"), "mlp": ("gelu", "swiglu"), "positions": ("learned", "rope")}
SIZES = ("vocab_size", "n_ctx", "d_model", "n_layers", "n_heads", "n_kv_heads", "d_ff")


def _check(config: ModelConfig) -> None:
    for name in SIZES:
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"config.{name} must be a positive int, got {value!r}")
    for name, allowed in CHOICES.items():
        if getattr(config, name) not in allowed:
            raise ValueError(f"config.{name} must be one of {allowed}, got {getattr(config, name)!r}")
    for name in ("bias", "tied_embeddings"):
        if not isinstance(getattr(config, name), bool):
            raise ValueError(f"config.{name} must be a bool, got {getattr(config, name)!r}")
    if config.d_model % config.n_heads:
        raise ValueError(f"config.d_model ({config.d_model}) must be divisible by n_heads ({config.n_heads})")
    if config.n_heads % config.n_kv_heads:
        raise ValueError(f"config.n_heads ({config.n_heads}) must be divisible by n_kv_heads ({config.n_kv_heads})")


def weight_shapes(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """{name: shape} for every parameter, in forward order. Matrices are [in, out] (x @ W)."""
    _check(config)
    d, d_ff = config.d_model, config.d_ff
    head_dim = d // config.n_heads
    q_out, kv_out = config.n_heads * head_dim, config.n_kv_heads * head_dim  # GQA: fewer k/v heads
    shapes: dict[str, tuple[int, ...]] = {"tok_emb": (config.vocab_size, d)}
    if config.positions == "learned":
        shapes["pos_emb"] = (config.n_ctx, d)

    def norm(name: str) -> None:
        shapes[f"{name}.weight"] = (d,)
        if config.norm == "layernorm":  # LayerNorm has a shift (beta); RMSNorm does not
            shapes[f"{name}.bias"] = (d,)

    def linear(prefix: str, short: str, n_in: int, n_out: int) -> None:
        shapes[f"{prefix}w_{short}"] = (n_in, n_out)
        if config.bias:
            shapes[f"{prefix}b_{short}"] = (n_out,)

    for i in range(config.n_layers):
        p = f"layers.{i}."
        norm(p + "attn_norm")
        linear(p + "attn.", "q", d, q_out)
        linear(p + "attn.", "k", d, kv_out)
        linear(p + "attn.", "v", d, kv_out)
        linear(p + "attn.", "o", q_out, d)
        norm(p + "mlp_norm")
        if config.mlp == "swiglu":
            linear(p + "mlp.", "gate", d, d_ff)
        linear(p + "mlp.", "up", d, d_ff)
        linear(p + "mlp.", "down", d_ff, d)
    norm("final_norm")
    if not config.tied_embeddings:
        shapes["lm_head"] = (d, config.vocab_size)  # the LM head never has a bias
    return shapes


def count_params(config: ModelConfig) -> int:
    """Total number of parameters; a tied LM head is the embedding matrix, counted once."""
    return sum(math.prod(shape) for shape in weight_shapes(config).values())
