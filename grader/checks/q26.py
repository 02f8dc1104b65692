"""Q26 property checks, shared by the self-check and the hidden suite.

The oracles are torch's own modules (nn.BatchNorm*d in training mode, nn.LayerNorm, nn.RMSNorm) with the
same eps and the same weights copied in; the properties are the ones that tell the three norms apart.
"""
from __future__ import annotations

import torch

from .core import assert_close, assert_shape, fail, tol

_BN_HINT = ("batch norm: one mean and one BIASED variance per channel (dim 1), taken over the batch AND "
            "every spatial position; y = (x - mean) / sqrt(var + eps) * gamma + beta, gamma/beta along dim 1")
_LN_HINT = ("layer norm: mean and BIASED variance of each vector over the last dim only; "
            "y = (x - mean) / sqrt(var + eps) * gamma + beta")
_RMS_HINT = "RMSNorm: no mean subtracted; y = x / sqrt(mean(x**2 over the last dim) + eps) * weight (eps inside the root)"


def _shape(t: torch.Tensor) -> str:
    return "(" + ", ".join(str(s) for s in t.shape) + ")"


def torch_batch_norm(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, eps: float) -> torch.Tensor:
    """torch.nn.BatchNorm{1,2,3}d in training mode, with gamma/beta copied in."""
    cls = {2: torch.nn.BatchNorm1d, 3: torch.nn.BatchNorm1d, 4: torch.nn.BatchNorm2d, 5: torch.nn.BatchNorm3d}[x.dim()]
    m = cls(x.shape[1], eps=eps, dtype=x.dtype).train()
    with torch.no_grad():
        m.weight.copy_(gamma)
        m.bias.copy_(beta)
        return m(x)


def torch_layer_norm(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, eps: float) -> torch.Tensor:
    m = torch.nn.LayerNorm(x.shape[-1], eps=eps, dtype=x.dtype)
    with torch.no_grad():
        m.weight.copy_(gamma)
        m.bias.copy_(beta)
        return m(x)


def torch_rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    m = torch.nn.RMSNorm(x.shape[-1], eps=eps, dtype=x.dtype)
    with torch.no_grad():
        m.weight.copy_(weight)
        return m(x)


def matches_torch_batch_norm(batch_norm, x, gamma, beta, eps: float = 1e-5) -> None:
    before = x.clone()
    got = batch_norm(x, gamma, beta, eps)
    if not torch.equal(before, x):
        fail("batch_norm changed x in place; functions must not modify their inputs")
    assert_close(got, torch_batch_norm(x, gamma, beta, eps),
                 f"batch_norm(x {_shape(x)} {x.dtype}, eps={eps:g}) against torch.nn.BatchNorm in training mode",
                 hint=_BN_HINT)


def matches_torch_layer_norm(layer_norm, x, gamma, beta, eps: float = 1e-5) -> None:
    before = x.clone()
    got = layer_norm(x, gamma, beta, eps)
    if not torch.equal(before, x):
        fail("layer_norm changed x in place; functions must not modify their inputs")
    assert_close(got, torch_layer_norm(x, gamma, beta, eps),
                 f"layer_norm(x {_shape(x)} {x.dtype}, eps={eps:g}) against torch.nn.LayerNorm", hint=_LN_HINT)


def matches_torch_rms_norm(rms_norm, x, weight, eps: float = 1e-6) -> None:
    before = x.clone()
    got = rms_norm(x, weight, eps)
    if not torch.equal(before, x):
        fail("rms_norm changed x in place; functions must not modify their inputs")
    assert_close(got, torch_rms_norm(x, weight, eps),
                 f"rms_norm(x {_shape(x)} {x.dtype}, eps={eps:g}) against torch.nn.RMSNorm", hint=_RMS_HINT)


def rms_norm_scale_invariant(rms_norm, x, weight, c: float, eps: float = 1e-6) -> None:
    """rms_norm(c·x) == rms_norm(x) up to eps; exactly, rms_norm(c·x, eps=c²·eps) == rms_norm(x, eps)."""
    base = rms_norm(x, weight, eps)
    assert_close(rms_norm(c * x, weight, c * c * eps), base,
                 f"rms_norm({c:g}·x, eps={c * c * eps:g}) compared with rms_norm(x, eps={eps:g}) (x {_shape(x)} {x.dtype})",
                 hint="sqrt(mean((c·x)²) + c²·eps) = c·sqrt(mean(x²) + eps), so these must agree: "
                      "eps belongs INSIDE the square root and no mean is subtracted")
    if c >= 1:  # with the same eps the two differ by about eps / mean(x²) relative: tiny, not zero
        assert_close(rms_norm(c * x, weight, eps), base,
                     f"rms_norm({c:g}·x) compared with rms_norm(x) (x {_shape(x)} {x.dtype})", rtol=1e-5, atol=1e-5,
                     hint="RMSNorm divides by the root mean square, so scaling a vector must not change the output")


def layer_norm_shift_invariant(layer_norm, x, gamma, beta, shift: torch.Tensor, eps: float = 1e-5) -> None:
    """Adding a constant to every feature of a vector (shift [..., 1]) leaves its layer norm unchanged."""
    base = layer_norm(x, gamma, beta, eps)
    rtol, atol = tol(x.dtype)
    scale = 1.0 + float(shift.abs().max())  # rounding of x + shift grows with the shift
    assert_close(layer_norm(x + shift, gamma, beta, eps), base,
                 f"layer_norm(x + s) compared with layer_norm(x), s a constant per vector (x {_shape(x)} {x.dtype})",
                 rtol=rtol, atol=atol * scale,
                 hint="layer norm subtracts each vector's own mean over the last dim, so shifting a vector "
                      "by a constant changes nothing")


def per_sample(norm, x, *params, name: str) -> None:
    """A per-token norm of a batch equals the norm of each sample alone (batch size 1 is no special case)."""
    whole = norm(x, *params)
    for i in range(x.shape[0]):
        assert_close(norm(x[i:i + 1], *params), whole[i:i + 1],
                     f"{name} of sample {i} alone (batch size 1) compared with its row in the batch {_shape(x)}",
                     hint=f"{name} normalises each vector over the last dim only; the rest of the batch "
                          "must not matter")


def batch_dependent(batch_norm, x, gamma, beta) -> None:
    """Batch norm of a sample depends on the rest of the batch (unlike layer norm). x [N >= 4, C, ...]."""
    if x.shape[0] < 4:
        raise ValueError("batch_dependent needs a batch of at least 4 samples")
    whole = batch_norm(x, gamma, beta)
    half = batch_norm(x[: x.shape[0] // 2], gamma, beta)
    for t, n in ((whole, x.shape[0]), (half, x.shape[0] // 2)):  # NaN is never "different": check it first
        assert_shape(t, (n, *x.shape[1:]), f"batch_norm of a batch of {n}")
        if not bool(torch.isfinite(t).all()):
            fail(f"batch_norm of a batch of {n} (x finite) has NaN or inf values", hint=_BN_HINT)
    if torch.allclose(whole[: half.shape[0]], half, rtol=1e-6, atol=1e-6):
        fail(f"batch_norm gave sample 0 the same output in a batch of {x.shape[0]} and in a batch of "
             f"{half.shape[0]}: the statistics are not taken over the batch", hint=_BN_HINT)
