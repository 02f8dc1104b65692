"""Q30: how depth, width and heads interact, and growing a model 10x. Read README.md; self-check: pytest exercises/q30

A config is a plain dict with at least n_layers, d_model, n_heads, head_dim (d_model = n_heads·head_dim);
other keys (vocab_size, n_ctx, ...) are carried over unchanged.
"""
from __future__ import annotations


def approx_params(n_layers: int, d_model: int) -> int:
    """12·n_layers·d_model² (an int): per layer attention 4·d² (W_q, W_k, W_v, W_o) and an MLP
    8·d² (d -> 4d -> d); embeddings, norms and biases are left out. Non-positive or non-int -> ValueError."""
    raise NotImplementedError


def scale_config(config: dict, factor: float) -> dict:
    """A NEW config whose approx_params is within 10% of factor × the old one (factor >= 1).

    Keep head_dim; d_model stays a multiple of it and n_heads = d_model // head_dim; every count is an
    int. Grow width and depth together (balanced: each by about factor**(1/3), since params ∝ L·d²);
    for factor >= 4 on a config with >= 4 layers and >= 4 heads, each must grow by at least
    factor**(1/6). A bad config or factor < 1 -> ValueError. Do not modify config.
    """
    raise NotImplementedError


def chinchilla_tokens(n_params: float) -> float:
    """Compute-optimal number of training tokens: 20 per parameter (Chinchilla). n_params <= 0 -> ValueError."""
    raise NotImplementedError


def training_flops(n_params: float, n_tokens: float) -> float:
    """Training compute 6·N·D FLOPs (forward 2·N per token, backward 4·N). Non-positive -> ValueError."""
    raise NotImplementedError
