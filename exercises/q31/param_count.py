"""Q31: every matrix's shape. Read README.md first; run `pytest exercises/q31` to self-check.

Weights are [in_features, out_features] and applied as x @ W (not nn.Linear's x @ W.T).
The config is model_config.ModelConfig (given; do not edit it). head_dim = d_model // n_heads.

Names (i = 0 .. n_layers-1); a name appears only when the config has that parameter:
    tok_emb                     [vocab_size, d_model]
    pos_emb                     [n_ctx, d_model]                  positions == "learned"
    layers.{i}.attn_norm.weight [d_model]                         .bias too for "layernorm"
    layers.{i}.attn.w_q         [d_model, n_heads·head_dim]       b_q [n_heads·head_dim] if bias
    layers.{i}.attn.w_k / w_v   [d_model, n_kv_heads·head_dim]    b_k / b_v if bias
    layers.{i}.attn.w_o         [n_heads·head_dim, d_model]       b_o [d_model] if bias
    layers.{i}.mlp_norm.weight  [d_model]                         .bias too for "layernorm"
    layers.{i}.mlp.w_gate       [d_model, d_ff]                   mlp == "swiglu" only; b_gate if bias
    layers.{i}.mlp.w_up         [d_model, d_ff]                   b_up [d_ff] if bias
    layers.{i}.mlp.w_down       [d_ff, d_model]                   b_down [d_model] if bias
    final_norm.weight           [d_model]                         .bias too for "layernorm"
    lm_head                     [d_model, vocab_size]             only when NOT tied; never a bias
"""
from __future__ import annotations

from model_config import ModelConfig


def weight_shapes(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """{name: shape tuple} for every parameter of the model (names and shapes in the module docstring).

    A bad config is a ValueError naming the field: sizes must be positive ints, d_model divisible by
    n_heads, n_heads by n_kv_heads, norm/mlp/positions one of the listed values.
    """
    raise NotImplementedError


def count_params(config: ModelConfig) -> int:
    """The total number of parameters (an int). A tied LM head is the token embedding: count it once.

    GPT-2 small has 124,439,808; Llama-2-7B 6,738,415,616.
    """
    raise NotImplementedError
