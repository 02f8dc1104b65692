"""Q31 checks, shared by the self-check and the hidden suite: an independent oracle built from torch's
own modules (nn.Embedding, nn.Linear, nn.LayerNorm, nn.RMSNorm), whose parameters are counted by torch.

``TorchDecoder(config, device="meta")`` allocates nothing, so GPT-2 XL and Llama sizes cost nothing.
nn.Linear stores its weight as [out, in]; the statement's matrices are [in, out] (x @ W), so the name
mapping below transposes. A tied LM head is the embedding's Parameter, which torch counts once.
"""
from __future__ import annotations

import dataclasses
import functools
import math
import re
from types import SimpleNamespace

import torch
import torch.nn.functional as F
from torch import nn

from .core import fail


class Block(nn.Module):
    def __init__(self, cfg, device):
        super().__init__()
        d, hd = cfg.d_model, cfg.d_model // cfg.n_heads
        self.n_heads, self.n_kv_heads, self.head_dim, self.swiglu = cfg.n_heads, cfg.n_kv_heads, hd, cfg.mlp == "swiglu"

        def norm():
            return nn.LayerNorm(d, device=device) if cfg.norm == "layernorm" else nn.RMSNorm(d, device=device)

        def linear(n_in, n_out):
            return nn.Linear(n_in, n_out, bias=cfg.bias, device=device)

        self.attn_norm = norm()
        self.q_proj = linear(d, cfg.n_heads * hd)
        self.k_proj = linear(d, cfg.n_kv_heads * hd)
        self.v_proj = linear(d, cfg.n_kv_heads * hd)
        self.o_proj = linear(cfg.n_heads * hd, d)
        self.mlp_norm = norm()
        if self.swiglu:
            self.gate_proj = linear(d, cfg.d_ff)
        self.up_proj = linear(d, cfg.d_ff)
        self.down_proj = linear(cfg.d_ff, d)

    def forward(self, x, rope=None):                          # x [B, T, d]
        B, T, _ = x.shape
        h = self.attn_norm(x)
        q = self.q_proj(h).view(B, T, self.n_heads, self.head_dim).transpose(1, 2)     # [B, H, T, hd]
        k = self.k_proj(h).view(B, T, self.n_kv_heads, self.head_dim).transpose(1, 2)  # [B, Hkv, T, hd]
        v = self.v_proj(h).view(B, T, self.n_kv_heads, self.head_dim).transpose(1, 2)
        if rope is not None:
            q, k = _rotate(q, *rope), _rotate(k, *rope)
        group = self.n_heads // self.n_kv_heads
        k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(B, T, -1)
        x = x + self.o_proj(y)
        h = self.mlp_norm(x)
        h = F.silu(self.gate_proj(h)) * self.up_proj(h) if self.swiglu else F.gelu(self.up_proj(h), approximate="tanh")
        return x + self.down_proj(h)


def _rotate(x, cos, sin):  # half-split RoPE
    x1, x2 = x.chunk(2, dim=-1)
    return x * cos + torch.cat((-x2, x1), dim=-1) * sin


def _embedding(n: int, d: int, device) -> nn.Embedding:
    if str(device) == "meta":  # normal_ on meta would first import torch._dynamo (seconds); nothing to draw
        return nn.Embedding(n, d, _weight=torch.empty(n, d, device="meta"))
    return nn.Embedding(n, d, device=device)


class TorchDecoder(nn.Module):
    """A working decoder-only transformer for a ModelConfig (pre-norm, GPT-2 / Llama layout)."""

    def __init__(self, cfg, device="meta"):
        super().__init__()
        self.cfg = cfg
        self.tok = _embedding(cfg.vocab_size, cfg.d_model, device)
        self.pos = _embedding(cfg.n_ctx, cfg.d_model, device) if cfg.positions == "learned" else None
        self.layers = nn.ModuleList(Block(cfg, device) for _ in range(cfg.n_layers))
        self.final_norm = (nn.LayerNorm(cfg.d_model, device=device) if cfg.norm == "layernorm"
                           else nn.RMSNorm(cfg.d_model, device=device))
        self.lm_head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False, device=device)
        if cfg.tied_embeddings:
            self.lm_head.weight = self.tok.weight

    def forward(self, idx):                                   # idx [B, T] -> logits [B, T, V]
        T = idx.shape[1]
        x = self.tok(idx)
        rope = None
        if self.pos is not None:
            x = x + self.pos(torch.arange(T, device=idx.device))
        else:
            hd = self.cfg.d_model // self.cfg.n_heads
            inv = 10000.0 ** (-torch.arange(0, hd, 2, dtype=x.dtype) / hd)
            ang = torch.arange(T, dtype=x.dtype)[:, None] * inv[None, :]        # [T, hd/2]
            ang = torch.cat((ang, ang), dim=-1)
            rope = (ang.cos(), ang.sin())
        for block in self.layers:
            x = block(x, rope)
        return self.lm_head(self.final_norm(x))


_RENAME = [  # torch name -> statement name, and whether the shape is a transposed nn.Linear weight
    (re.compile(r"^tok\.weight$"), "tok_emb", False),
    (re.compile(r"^pos\.weight$"), "pos_emb", False),
    (re.compile(r"^lm_head\.weight$"), "lm_head", True),
    (re.compile(r"^(layers\.\d+)\.([qkvo])_proj\.weight$"), r"\1.attn.w_\2", True),
    (re.compile(r"^(layers\.\d+)\.([qkvo])_proj\.bias$"), r"\1.attn.b_\2", False),
    (re.compile(r"^(layers\.\d+)\.(gate|up|down)_proj\.weight$"), r"\1.mlp.w_\2", True),
    (re.compile(r"^(layers\.\d+)\.(gate|up|down)_proj\.bias$"), r"\1.mlp.b_\2", False),
    (re.compile(r"^((?:layers\.\d+\.)?(?:attn_norm|mlp_norm|final_norm))\.(weight|bias)$"), r"\1.\2", False),
]


def _fields(cfg) -> tuple:
    return tuple((f.name, getattr(cfg, f.name)) for f in dataclasses.fields(cfg))


@functools.lru_cache(maxsize=64)
def _oracle(fields: tuple) -> tuple[dict[str, tuple[int, ...]], int]:
    cfg = SimpleNamespace(**dict(fields))
    n_layers = cfg.n_layers
    # every block is the same module: build one (building GPT-2 XL's 48 cost ~0.1 s) and read it n_layers times
    model = TorchDecoder(SimpleNamespace(**{**vars(cfg), "n_layers": min(n_layers, 1)}))
    shapes: dict[str, tuple[int, ...]] = {}
    for name, p in model.named_parameters():  # a tied LM head is the embedding's Parameter: listed once
        for pattern, new, transposed in _RENAME:
            if pattern.match(name):
                shape = tuple(reversed(p.shape)) if transposed else tuple(p.shape)
                names = [name] if not name.startswith("layers.0.") else \
                    [f"layers.{i}.{name[len('layers.0.'):]}" for i in range(n_layers)]
                for each in names:
                    shapes[pattern.sub(new, each)] = shape
                break
        else:
            raise AssertionError(f"the oracle has an unmapped parameter {name}")
    per_block = sum(p.numel() for p in model.layers.parameters())
    return shapes, sum(p.numel() for p in model.parameters()) + (n_layers - min(n_layers, 1)) * per_block


def torch_shapes(cfg) -> dict[str, tuple[int, ...]]:
    """The statement's {name: [in, out] shape} read off the torch model (each parameter once)."""
    return dict(_oracle(_fields(cfg))[0])


def torch_count(cfg) -> int:
    """The number of parameters torch counts in the model built from cfg."""
    return _oracle(_fields(cfg))[1]


def describe(cfg) -> str:
    return (f"ModelConfig(d_model={cfg.d_model}, n_layers={cfg.n_layers}, n_heads={cfg.n_heads}, "
            f"n_kv_heads={cfg.n_kv_heads}, d_ff={cfg.d_ff}, vocab_size={cfg.vocab_size}, n_ctx={cfg.n_ctx}, "
            f"norm={cfg.norm!r}, mlp={cfg.mlp!r}, bias={cfg.bias}, tied_embeddings={cfg.tied_embeddings}, "
            f"positions={cfg.positions!r})")


def check_count(count_params, cfg, expected: int | None = None) -> None:
    """count_params(cfg) equals the torch model's count (and ``expected``, a published total, if given)."""
    oracle = torch_count(cfg)
    if expected is not None and oracle != expected:
        raise AssertionError(f"the oracle counts {oracle:,} for a published total of {expected:,}")
    got = count_params(cfg)
    if type(got) is not int:
        fail(f"count_params({describe(cfg)}) returned {got!r} ({type(got).__name__}); expected the int {oracle:,}")
    if got != oracle:
        fail(f"count_params({describe(cfg)}) = {got:,}, expected {oracle:,} (off by {got - oracle:+,})",
             hint=_count_hint(cfg, got - oracle))


def _count_hint(cfg, diff: int) -> str:
    d, V = cfg.d_model, cfg.vocab_size
    if abs(diff) == V * d:
        return "a tied LM head IS the token embedding: count it once; an untied one is a second [d_model, vocab] matrix"
    if abs(diff) == cfg.n_ctx * d:
        return "learned positions are an [n_ctx, d_model] table; RoPE has no parameters"
    if abs(diff) in (d, (2 * cfg.n_layers) * d, (2 * cfg.n_layers + 1) * d):
        return "LayerNorm has a weight and a bias; RMSNorm only a weight; there is a final norm before the LM head"
    if diff and diff % cfg.n_layers == 0 and abs(diff // cfg.n_layers) == d * cfg.d_ff:
        return "SwiGLU has three matrices (gate, up, down); the GELU MLP two (up, down)"
    return "list every matrix and vector of one layer; with GQA, W_k and W_v have n_kv_heads·head_dim outputs"


def check_shapes(weight_shapes, cfg) -> None:
    """weight_shapes(cfg) names every parameter once with its [in, out] shape, as the torch model has them."""
    expected = torch_shapes(cfg)
    got = weight_shapes(cfg)
    what = f"weight_shapes({describe(cfg)})"
    if not isinstance(got, dict):
        fail(f"{what} should return a dict, got {type(got).__name__}")
    missing = [k for k in expected if k not in got]
    extra = [k for k in got if k not in expected]
    if missing or extra:
        fail(f"{what}: " + "; ".join(
            part for part in (f"missing {_few(missing)}" if missing else "", f"unexpected {_few(extra)}" if extra else "")
            if part), hint="names as in the statement: tok_emb, pos_emb, layers.{i}.attn_norm.weight, "
                           "layers.{i}.attn.w_q, layers.{i}.mlp.w_up, final_norm.weight, lm_head, ...")
    for name, shape in expected.items():
        value = got[name]
        if not isinstance(value, (tuple, list)) or not all(type(s) is int for s in value):
            fail(f"{what}[{name!r}] = {value!r} should be a tuple of ints")
        if tuple(value) != shape:
            fail(f"{what}[{name!r}] = {tuple(value)}, expected {shape}",
                 hint="matrices are [in, out] (applied as x @ W); with GQA, W_k and W_v map d_model to "
                      "n_kv_heads·head_dim")
    total = sum(math.prod(s) for s in got.values())
    if total != torch_count(cfg):
        fail(f"{what}: the shapes add up to {total:,} parameters, the model has {torch_count(cfg):,}")


def _few(names: list[str]) -> str:
    return ", ".join(repr(n) for n in names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
