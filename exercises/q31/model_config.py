"""Q31 (given, do not edit): a decoder-only transformer's hyper-parameters, and the published models.

A plain dataclass of ints, strs and bools. Nothing here checks the values: that is part of your
work in param_count.py (d_model divisible by n_heads, n_heads by n_kv_heads, known norm/mlp/positions).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ModelConfig:
    vocab_size: int
    n_ctx: int                      # context length (rows of a learned position table)
    d_model: int
    n_layers: int
    n_heads: int                    # query heads; head_dim = d_model // n_heads
    n_kv_heads: int                 # key/value heads: = n_heads (MHA), 1 (MQA), in between (GQA)
    d_ff: int                       # MLP hidden size
    norm: str = "layernorm"         # "layernorm" (weight and bias) | "rmsnorm" (weight only)
    mlp: str = "gelu"               # "gelu": up, down | "swiglu": gate, up, down
    bias: bool = True               # biases in the attention and MLP projections (never in the LM head)
    tied_embeddings: bool = True    # the LM head reuses the token embedding matrix
    positions: str = "learned"      # "learned": an [n_ctx, d_model] table | "rope": no parameters

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    # --- published models -----------------------------------------------------------------------
    @classmethod
    def gpt2_small(cls) -> "ModelConfig":   # 124M
        return cls(vocab_size=50257, n_ctx=1024, d_model=768, n_layers=12, n_heads=12, n_kv_heads=12, d_ff=3072)

    @classmethod
    def gpt2_medium(cls) -> "ModelConfig":  # 355M
        return cls(vocab_size=50257, n_ctx=1024, d_model=1024, n_layers=24, n_heads=16, n_kv_heads=16, d_ff=4096)

    @classmethod
    def gpt2_large(cls) -> "ModelConfig":   # 774M
        return cls(vocab_size=50257, n_ctx=1024, d_model=1280, n_layers=36, n_heads=20, n_kv_heads=20, d_ff=5120)

    @classmethod
    def gpt2_xl(cls) -> "ModelConfig":      # 1.5B
        return cls(vocab_size=50257, n_ctx=1024, d_model=1600, n_layers=48, n_heads=25, n_kv_heads=25, d_ff=6400)

    @classmethod
    def llama2_7b(cls) -> "ModelConfig":
        return cls(vocab_size=32000, n_ctx=4096, d_model=4096, n_layers=32, n_heads=32, n_kv_heads=32, d_ff=11008,
                   norm="rmsnorm", mlp="swiglu", bias=False, tied_embeddings=False, positions="rope")

    @classmethod
    def llama3_8b(cls) -> "ModelConfig":
        return cls(vocab_size=128256, n_ctx=8192, d_model=4096, n_layers=32, n_heads=32, n_kv_heads=8, d_ff=14336,
                   norm="rmsnorm", mlp="swiglu", bias=False, tied_embeddings=False, positions="rope")
