"""Q24 reference: greedy generation on the tiny GPT with and without a KV cache, and its FLOP count."""
from __future__ import annotations

import math

import torch


def _split_heads(x: torch.Tensor, n_heads: int) -> torch.Tensor:
    B, T, C = x.shape
    return x.view(B, T, n_heads, C // n_heads).transpose(1, 2)  # [B, H, T, D]


def _forward(model, idx: torch.Tensor, cache: list | None = None, past: int = 0) -> torch.Tensor:
    """Logits [B, t, V] for idx [B, t] at positions past .. past+t-1.

    cache: None (no cache: idx is the whole sequence, past = 0), or a list of per-layer (K, V) buffers
    [B, H, max_len, D] holding `past` positions already; the new keys and values are written after them.
    """
    B, t = idx.shape
    H, D = model.n_heads, model.head_dim
    x = model.embed(idx, past)  # [B, t, C]
    i = torch.arange(t).unsqueeze(1)  # [t, 1]   query i sits at position past + i
    j = torch.arange(past + t).unsqueeze(0)  # [1, past+t]
    allowed = j <= past + i  # [t, past+t]
    for layer, blk in enumerate(model.blocks):
        h = blk.ln_1(x)
        q = _split_heads(h @ blk.w_q, H)  # [B, H, t, D]
        k = _split_heads(h @ blk.w_k, H)
        v = _split_heads(h @ blk.w_v, H)
        if cache is not None:
            k_buf, v_buf = cache[layer]
            k_buf[:, :, past:past + t] = k
            v_buf[:, :, past:past + t] = v
            k, v = k_buf[:, :, :past + t], v_buf[:, :, :past + t]  # [B, H, past+t, D]
        att = q @ k.transpose(-2, -1) / math.sqrt(D)  # [B, H, t, past+t]
        att = att.masked_fill(~allowed, float("-inf")).softmax(dim=-1)
        y = (att @ v).transpose(1, 2).reshape(B, t, H * D)  # [B, t, C]
        x = x + y @ blk.w_o
        x = x + blk.mlp(blk.ln_2(x))
    return model.unembed(model.ln_f(x))  # [B, t, V]


def _check(model, prompt, n_new) -> None:
    if not isinstance(prompt, torch.Tensor) or prompt.dim() != 2 or prompt.shape[1] < 1:
        raise ValueError(f"prompt must be a LongTensor [B, T] with T >= 1, got "
                         f"{tuple(prompt.shape) if isinstance(prompt, torch.Tensor) else type(prompt).__name__}")
    if prompt.dtype != torch.long:
        raise ValueError(f"prompt must hold token ids (torch.long), got {prompt.dtype}")
    if prompt.numel() and (int(prompt.min()) < 0 or int(prompt.max()) >= model.vocab_size):
        raise ValueError(f"prompt token ids must be in 0..{model.vocab_size - 1}")
    if isinstance(n_new, bool) or not isinstance(n_new, int) or n_new < 0:
        raise ValueError(f"n_new must be a non-negative int, got {n_new!r}")
    if prompt.shape[1] + n_new > model.max_positions:
        raise ValueError(f"prompt length {prompt.shape[1]} + n_new {n_new} exceeds the model's "
                         f"max_positions {model.max_positions}")


@torch.no_grad()
def generate_greedy(model, prompt: torch.Tensor, n_new: int, use_cache: bool = True) -> torch.Tensor:
    """New tokens [B, n_new] (torch.long) chosen greedily after prompt [B, T]."""
    _check(model, prompt, n_new)
    B, T = prompt.shape
    out = torch.empty(B, n_new, dtype=torch.long)
    if n_new == 0:
        return out
    seq = prompt.clone()
    if not use_cache:
        for step in range(n_new):
            logits = _forward(model, seq)  # the whole sequence, every step: [B, T+step, V]
            nxt = logits[:, -1].argmax(dim=-1)  # [B]
            out[:, step] = nxt
            seq = torch.cat([seq, nxt[:, None]], dim=1)
        return out
    H, D, max_len = model.n_heads, model.head_dim, T + n_new
    cache = [(torch.empty(B, H, max_len, D, dtype=model.dtype), torch.empty(B, H, max_len, D, dtype=model.dtype))
             for _ in model.blocks]
    logits = _forward(model, prompt, cache, past=0)  # prefill: the prompt once
    for step in range(n_new):
        nxt = logits[:, -1].argmax(dim=-1)  # [B]
        out[:, step] = nxt
        seq = torch.cat([seq, nxt[:, None]], dim=1)
        if step + 1 < n_new:
            logits = _forward(model, nxt[:, None], cache, past=T + step)  # one token, cached K/V
    return out


def _pass_flops(n_layers: int, d: int, t_q: int, t_k: int) -> int:
    """One forward pass: t_q new positions attending to t_k keys (cached + new)."""
    proj = 4 * 2 * t_q * d * d  # q, k, v, o
    mlp = 2 * 2 * t_q * d * (4 * d)  # d -> 4d -> d
    attn = 2 * 2 * t_q * t_k * d  # Q K^T and P V over all heads, full rectangle
    return n_layers * (proj + mlp + attn)


def decode_flops(n_layers: int, d_model: int, prompt_len: int, n_new: int, use_cache: bool) -> int:
    """Matmul FLOPs of every forward pass generate_greedy makes (prefill included)."""
    for name, value, low in (("n_layers", n_layers, 1), ("d_model", d_model, 1), ("prompt_len", prompt_len, 1),
                             ("n_new", n_new, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    if n_new == 0:
        return 0
    P = prompt_len
    if use_cache:
        return _pass_flops(n_layers, d_model, P, P) + sum(
            _pass_flops(n_layers, d_model, 1, P + s) for s in range(1, n_new))
    return sum(_pass_flops(n_layers, d_model, P + s, P + s) for s in range(n_new))
