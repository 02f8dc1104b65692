"""Q24 (given, do not edit): a tiny GPT whose attention is left to you.

The model holds random weights drawn from a seeded torch.Generator, so the same settings always give
the same model. It offers every piece of a GPT-2-style decoder EXCEPT attention: you compute q, k, v
with the block's weights, do the (cached or uncached) causal attention yourself, and project back
with w_o. Nothing here caches anything.

Weights are [in_features, out_features] and applied as x @ W (not nn.Linear's x @ W.T).
Shapes: B batch, T tokens, C = d_model, H = n_heads, D = C // H head dim, V = vocab_size.

One block (pre-norm, as in GPT-2 / nanoGPT):
    h = blk.ln_1(x)                                   # [B, T, C]
    q, k, v = h @ blk.w_q, h @ blk.w_k, h @ blk.w_v   # [B, T, C] each; split into H heads of D
    y = causal attention over the heads, merged back  # [B, T, C]   <- your work
    x = x + y @ blk.w_o                               # [B, T, C]
    x = x + blk.mlp(blk.ln_2(x))                      # [B, T, C]
Whole model:
    x = model.embed(idx, pos_offset)                  # [B, T] -> [B, T, C]; token + position
    ... every block in model.blocks ...
    logits = model.unembed(model.ln_f(x))             # [B, T, V]
"""
from __future__ import annotations

import math

import torch

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


class LayerNorm:
    """LayerNorm over the last dim with a learned gain and bias (eps 1e-5)."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor, eps: float = 1e-5):
        self.weight = weight  # [C]
        self.bias = bias  # [C]
        self.eps = eps

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        mu = x.mean(-1, keepdim=True)  # [..., 1]
        var = x.var(-1, unbiased=False, keepdim=True)  # [..., 1]
        return (x - mu) / torch.sqrt(var + self.eps) * self.weight + self.bias


class Block:
    """One transformer block's weights and its non-attention pieces."""

    def __init__(self, ln_1: LayerNorm, w_q, w_k, w_v, w_o, ln_2: LayerNorm, w_fc, w_proj):
        self.ln_1 = ln_1  # norm before attention
        self.w_q = w_q  # [C, C]
        self.w_k = w_k  # [C, C]
        self.w_v = w_v  # [C, C]
        self.w_o = w_o  # [C, C] output projection of the merged heads
        self.ln_2 = ln_2  # norm before the MLP
        self.w_fc = w_fc  # [C, 4C]
        self.w_proj = w_proj  # [4C, C]

    def mlp(self, x: torch.Tensor) -> torch.Tensor:
        """Position-wise MLP: [..., C] -> [..., C] (GELU, d_ff = 4C, no biases)."""
        return torch.nn.functional.gelu(x @ self.w_fc) @ self.w_proj


class TinyGPT:
    """A small untied GPT with random weights; attention is NOT included (see the module docstring).

    Attributes: vocab_size, n_layers, d_model, n_heads, head_dim, max_positions, seed, dtype,
    blocks (list of Block), wte [V, C], wpe [max_positions, C], w_head [C, V].
    """

    def __init__(self, vocab_size: int = 256, n_layers: int = 4, d_model: int = 128, n_heads: int = 4,
                 max_positions: int = 1024, seed: int = 0, dtype: torch.dtype | str = torch.float32):
        if isinstance(dtype, str):
            dtype = _DTYPES[dtype]
        if dtype not in _DTYPES.values():
            raise ValueError(f"dtype must be float32 or float64, got {dtype}")
        if d_model % n_heads:
            raise ValueError(f"d_model ({d_model}) must be divisible by n_heads ({n_heads})")
        self.vocab_size, self.n_layers, self.d_model = vocab_size, n_layers, d_model
        self.n_heads, self.head_dim, self.max_positions = n_heads, d_model // n_heads, max_positions
        self.seed, self.dtype = seed, dtype
        g = torch.Generator().manual_seed(seed)
        C = d_model

        def randn(*shape, std: float) -> torch.Tensor:
            # drawn in float64, then cast: the float32 and float64 models are the same model
            return (torch.randn(*shape, generator=g, dtype=torch.float64) * std).to(dtype)

        def layer_norm() -> LayerNorm:
            return LayerNorm(1.0 + randn(C, std=0.1), randn(C, std=0.1))

        # Scales chosen so every piece matters: unit-size embeddings (positions as strong as tokens),
        # projections that keep activations O(1), and a sharp untied head so greedy output varies.
        self.wte = randn(vocab_size, C, std=1.0)  # [V, C] token embeddings
        self.wpe = randn(max_positions, C, std=1.0)  # [max_positions, C] learned positions
        self.blocks = [
            Block(layer_norm(),
                  randn(C, C, std=1.5 / math.sqrt(C)), randn(C, C, std=1.5 / math.sqrt(C)),
                  randn(C, C, std=1.0 / math.sqrt(C)), randn(C, C, std=1.0 / math.sqrt(C)),
                  layer_norm(),
                  randn(C, 4 * C, std=1.0 / math.sqrt(C)), randn(4 * C, C, std=1.0 / math.sqrt(4 * C)))
            for _ in range(n_layers)
        ]
        self.ln_f = layer_norm()  # final norm
        self.w_head = randn(C, vocab_size, std=3.0 / math.sqrt(C))  # [C, V] untied LM head

    # --- crossing a process boundary: plain data in, the same weights out -------------------------
    def to_wire(self) -> dict:
        """Plain data that rebuilds this model exactly (its settings and seed)."""
        return {"vocab_size": self.vocab_size, "n_layers": self.n_layers, "d_model": self.d_model,
                "n_heads": self.n_heads, "max_positions": self.max_positions, "seed": self.seed,
                "dtype": str(self.dtype).removeprefix("torch.")}

    @classmethod
    def from_wire(cls, state: dict) -> "TinyGPT":
        return cls(**state)

    # --- the non-attention pieces -----------------------------------------------------------------
    def embed(self, idx: torch.Tensor, pos_offset: int = 0) -> torch.Tensor:
        """Token + position embeddings: idx [B, T] at positions pos_offset .. pos_offset+T-1 -> [B, T, C]."""
        T = idx.shape[-1]
        if pos_offset < 0 or pos_offset + T > self.max_positions:
            raise ValueError(f"positions {pos_offset}..{pos_offset + T - 1} are outside "
                             f"0..{self.max_positions - 1} (max_positions={self.max_positions})")
        return self.wte[idx] + self.wpe[pos_offset:pos_offset + T]  # [B, T, C]

    def unembed(self, x: torch.Tensor) -> torch.Tensor:
        """Logits over the vocabulary: [..., C] -> [..., V] (apply ln_f first)."""
        return x @ self.w_head

    def __repr__(self) -> str:
        return (f"TinyGPT(vocab_size={self.vocab_size}, n_layers={self.n_layers}, d_model={self.d_model}, "
                f"n_heads={self.n_heads}, max_positions={self.max_positions}, seed={self.seed}, "
                f"dtype={str(self.dtype).removeprefix('torch.')})")
