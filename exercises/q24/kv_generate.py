"""Q24: the cost of decoding without a KV cache. Read README.md first; self-check: `pytest exercises/q24`.

Weights are [in_features, out_features] and applied as x @ W. The model is the given tiny GPT
(tiny_gpt.py): it offers embeddings, norms, the q/k/v/o weights, the MLP and the unembedding, but
no attention: you write the causal attention, with and without a cache.

The one fact: without a cache every new token re-runs the whole sequence, so generating L tokens
costs O(L^2) token-passes; with a cache each step runs ONE token and reads the past K/V: O(L).
"""
from __future__ import annotations

import torch


def generate_greedy(model, prompt: torch.Tensor, n_new: int, use_cache: bool = True) -> torch.Tensor:
    """Greedy decoding: return the n_new new tokens, a LongTensor [B, n_new] (the prompt not included).

    model   a tiny_gpt.TinyGPT (its dtype, float32 or float64, is the dtype to compute in)
    prompt  LongTensor [B, T], T >= 1, ids in 0 .. model.vocab_size-1 (not modified)
    n_new   int >= 0; T + n_new must not exceed model.max_positions
    use_cache
        False: at every step run the whole sequence so far [B, T+s] through the model and take the
               argmax of the last position's logits.
        True:  run the prompt once (prefill) keeping every layer's K and V [B, H, T, D]; then each
               step runs only the newest token [B, 1] at its position, appends its k, v to the cache
               and attends over all cached keys. Both modes must give the same tokens.
    Bad arguments (prompt not 2-D, not torch.long, ids out of range, negative n_new, too long)
    raise ValueError naming the argument.
    """
    raise NotImplementedError


def decode_flops(n_layers: int, d_model: int, prompt_len: int, n_new: int, use_cache: bool) -> int:
    """Matmul FLOPs (2 per multiply-add) of every forward pass generate_greedy makes, prefill included.

    A pass over t_q new positions that attend to t_k keys (cached + new) costs, per layer,
        q, k, v, o projections   4 * 2 * t_q * d * d
        MLP (d_ff = 4 d)         2 * 2 * t_q * d * 4d
        Q K^T and P V            2 * 2 * t_q * t_k * d     (all heads together; the full t_q x t_k
                                                            rectangle, masked entries included)
    Embeddings, norms, softmax and the LM head are not counted. With P = prompt_len, N = n_new:
        use_cache=False: passes (t_q, t_k) = (P+s, P+s) for s = 0 .. N-1
        use_cache=True:  the prefill (P, P), then (1, P+s) for s = 1 .. N-1
    (the N-th new token is never fed back; n_new = 0 costs 0).
    Example: decode_flops(1, 4, 2, 3, True) == 1712, decode_flops(1, 4, 2, 3, False) == 3920.
    n_layers, d_model, prompt_len >= 1 and n_new >= 0 are ints, else ValueError naming the argument.
    """
    raise NotImplementedError
