"""Q27 property checks, shared by the self-check and the hidden suite.

Oracles: torch.nn.functional (gelu, silu, linear — nn.Linear stores [out, in], so F.linear(x, W.T) is
x @ W) and parameter counts of real nn.Linear layers.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from .core import assert_close, assert_equal, fail

_GELU_HINT = {
    "none": "exact GELU: x * Phi(x) = 0.5 * x * (1 + erf(x / sqrt(2)))",
    "tanh": "tanh GELU: 0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x**3)))",
}


def _shape(t: torch.Tensor) -> str:
    return "(" + ", ".join(str(s) for s in t.shape) + ")"


def gelu_matches_torch(gelu, x: torch.Tensor, approximate: str) -> None:
    before = x.clone()
    got = gelu(x, approximate)
    if not torch.equal(before, x):
        fail("gelu changed x in place; functions must not modify their inputs")
    assert_close(got, F.gelu(x, approximate=approximate),
                 f'gelu(x {_shape(x)} {x.dtype}, approximate="{approximate}") against torch.nn.functional.gelu',
                 hint=_GELU_HINT[approximate])


def torch_ffn(x, w1, b1, w2, b2, activation: str) -> torch.Tensor:
    h = F.linear(x, w1.T, b1)
    h = F.gelu(h) if activation == "gelu" else F.relu(h)
    return F.linear(h, w2.T, b2)


def torch_swiglu(x, w_gate, w_up, w_down) -> torch.Tensor:
    return F.linear(F.silu(F.linear(x, w_gate.T)) * F.linear(x, w_up.T), w_down.T)


def ffn_matches_torch(ffn, x, w1, b1, w2, b2, activation: str) -> None:
    saved = [t.clone() for t in (x, w1, w2)]
    got = ffn(x, w1, b1, w2, b2, activation)
    for before, after, name in zip(saved, (x, w1, w2), ("x", "w1", "w2")):
        if not torch.equal(before, after):
            fail(f"ffn changed {name} in place; functions must not modify their inputs")
    bias = "no biases" if b1 is None and b2 is None else "with biases"
    assert_close(got, torch_ffn(x, w1, b1, w2, b2, activation),
                 f'ffn(x {_shape(x)} {x.dtype}, w1 {_shape(w1)}, w2 {_shape(w2)}, {bias}, activation="{activation}")',
                 rtol=None if x.dtype == torch.float64 else 1e-4, atol=None if x.dtype == torch.float64 else 1e-4,
                 hint="act(x @ w1 + b1) @ w2 + b2 with weights [in, out]; \"gelu\" is the exact (erf) GELU")


def swiglu_matches_torch(swiglu_ffn, x, w_gate, w_up, w_down) -> None:
    got = swiglu_ffn(x, w_gate, w_up, w_down)
    assert_close(got, torch_swiglu(x, w_gate, w_up, w_down),
                 f"swiglu_ffn(x {_shape(x)} {x.dtype}, w_gate {_shape(w_gate)}, w_down {_shape(w_down)})",
                 rtol=None if x.dtype == torch.float64 else 1e-4, atol=None if x.dtype == torch.float64 else 1e-4,
                 hint="(silu(x @ w_gate) * (x @ w_up)) @ w_down with silu(z) = z * sigmoid(z): the GATE goes "
                      "through silu, the UP projection does not")


def position_wise(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, name: str, seed: int = 0) -> None:
    """x [..., T, d]: permuting the tokens permutes the outputs, and each token alone gives its own row."""
    out = fn(x)
    t = x.shape[-2]
    perm = torch.randperm(t, generator=torch.Generator().manual_seed(seed))
    assert_close(fn(x[..., perm, :]), out[..., perm, :],
                 f"{name} of the tokens in the order {perm.tolist()} compared with the same rows of {name}(x)",
                 hint="an FFN works on each position independently: no token may influence another")
    for i in (0, t - 1):
        assert_close(fn(x[..., i:i + 1, :]), out[..., i:i + 1, :],
                     f"{name} of token {i} alone compared with its row of {name}(x {_shape(x)})",
                     hint="an FFN works on each position independently: no token may influence another")


def params_match_torch(ffn_params, d_model: int, d_ff: int) -> None:
    """Counts of real layers: plain = Linear(d_model, d_ff) + Linear(d_ff, d_model) with biases; gated = three
    Linear layers without biases (Llama's w1/w3 = gate/up and w2 = down)."""
    plain = [torch.nn.Linear(d_model, d_ff, device="meta"), torch.nn.Linear(d_ff, d_model, device="meta")]
    gated = [torch.nn.Linear(d_model, d_ff, bias=False, device="meta"),
             torch.nn.Linear(d_model, d_ff, bias=False, device="meta"),
             torch.nn.Linear(d_ff, d_model, bias=False, device="meta")]
    count = lambda layers: sum(p.numel() for m in layers for p in m.parameters())  # noqa: E731
    assert_equal(ffn_params(d_model, d_ff, False), count(plain), f"ffn_params({d_model}, {d_ff}, gated=False)",
                 hint="plain FFN: w1 [d_model, d_ff] + b1 [d_ff] + w2 [d_ff, d_model] + b2 [d_model]")
    assert_equal(ffn_params(d_model, d_ff, True), count(gated), f"ffn_params({d_model}, {d_ff}, gated=True)",
                 hint="gated (SwiGLU) FFN: w_gate and w_up [d_model, d_ff] + w_down [d_ff, d_model], no biases")
