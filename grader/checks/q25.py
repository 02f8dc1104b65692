"""Q25 property checks, shared by the self-check and the hidden suite.

The callables passed to the submission (sublayers, norms) live on this side: the isolated grader
calls them back, so they are plain deterministic functions and only values are checked.
"""
from __future__ import annotations

import math

import torch

from .core import assert_close, assert_number, fail

SQRT_ND = math.sqrt(64 * 8)  # the gradient norm at depth 0 (d loss/dx is all ones, n = 8, d = 64)


def standardize(x: torch.Tensor) -> torch.Tensor:
    """LayerNorm without gain, bias or eps: each row to mean 0 and (biased) std 1."""
    mu = x.mean(-1, keepdim=True)
    return (x - mu) / (x - mu).pow(2).mean(-1, keepdim=True).sqrt()


class Counted:
    """A callable that counts its calls (it runs on the trusted side, so the count survives isolation)."""

    def __init__(self, fn, name: str):
        self.fn, self.name, self.calls = fn, name, 0

    def __call__(self, x):
        self.calls += 1
        return self.fn(x)


def zero_sublayer_paths(residual, pre_norm_block, post_norm_block, x: torch.Tensor) -> None:
    """With a sublayer that returns zeros, only the identity path is left: what each block gives then."""
    zero = lambda h: torch.zeros_like(h)  # noqa: E731
    assert_close(residual(x, zero), x, "residual(x, sublayer=zeros)", hint="residual(x, f) = x + f(x)")
    assert_close(pre_norm_block(x, zero, standardize), x, "pre_norm_block(x, sublayer=zeros, norm)",
                 hint="pre-norm adds the RAW x back: x + sublayer(norm(x)); norm only feeds the sublayer")
    assert_close(post_norm_block(x, zero, standardize), standardize(x), "post_norm_block(x, sublayer=zeros, norm)",
                 hint="post-norm normalises the sum: norm(x + sublayer(x))")


def each_called_once(residual, pre_norm_block, post_norm_block, x: torch.Tensor) -> None:
    """Each block calls its sublayer (and norm) exactly once, and gives the right value with them."""
    expected = {"residual": x + torch.tanh(x), "pre_norm_block": x + torch.tanh(standardize(x)),
                "post_norm_block": standardize(x + torch.tanh(x))}
    for name, block, needs_norm in (("residual", residual, False), ("pre_norm_block", pre_norm_block, True),
                                    ("post_norm_block", post_norm_block, True)):
        sub, norm = Counted(torch.tanh, "sublayer"), Counted(standardize, "norm")
        got = block(x, sub, norm) if needs_norm else block(x, sub)
        assert_close(got, expected[name], f"{name}(x, sublayer=tanh{', norm=standardize' if needs_norm else ''})")
        for c in (sub, norm) if needs_norm else (sub,):
            if c.calls != 1:
                fail(f"{name} called {c.name} {c.calls} times; a block applies each piece exactly once",
                     hint="keep the result in a variable instead of calling again")


def gradient_vanishes_without_residual(input_grad_norm, seed: int, depths=(32, 48)) -> None:
    """Plain stacks lose the gradient at depth 32+; residual stacks keep it near its depth-0 size."""
    for depth in depths:
        with_res = input_grad_norm(depth, True, torch.Generator().manual_seed(seed))
        plain = input_grad_norm(depth, False, torch.Generator().manual_seed(seed))
        for label, v in (("True", with_res), ("False", plain)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                fail(f"input_grad_norm({depth}, residual={label}, seed {seed}) should be a finite float >= 0, "
                     f"got {v!r}")
        if not plain < 1e-6 * SQRT_ND:
            fail(f"input_grad_norm({depth}, residual=False, seed {seed}) = {plain:.3g}: a plain stack of {depth} "
                 f"tanh layers with gain {0.5} should shrink the gradient below {1e-6 * SQRT_ND:.3g} "
                 f"(about 0.5x per layer)", hint="no residual: h = tanh(h @ W) (the input is not added back)")
        if not 0.5 * SQRT_ND <= with_res <= 50 * SQRT_ND:
            fail(f"input_grad_norm({depth}, residual=True, seed {seed}) = {with_res:.3g}: with residual "
                 f"connections the gradient should stay between {0.5 * SQRT_ND:.3g} and {50 * SQRT_ND:.3g} "
                 f"(its depth-0 value is {SQRT_ND:.4g})", hint="residual: h = h + tanh(h @ W)")
        if not with_res > 1e6 * plain:
            fail(f"at depth {depth} the residual stack's input gradient ({with_res:.3g}) should be more than a "
                 f"million times the plain stack's ({plain:.3g})")


def depth_zero(input_grad_norm) -> None:
    for res in (True, False):
        assert_number(input_grad_norm(0, res, torch.Generator().manual_seed(0)), SQRT_ND,
                      f"input_grad_norm(0, {res}, generator)", rel=1e-12,
                      hint="with no layers the loss is x.sum(), whose gradient is all ones: sqrt(8 * 64)")


def seeded(input_grad_norm) -> None:
    a = input_grad_norm(4, True, torch.Generator().manual_seed(5))
    b = input_grad_norm(4, True, torch.Generator().manual_seed(5))
    c = input_grad_norm(4, True, torch.Generator().manual_seed(6))
    assert_number(b, a, "input_grad_norm(4, True, seed 5) run twice", rel=1e-12,
                  hint="draw every random number from the generator argument")
    if a == c:
        fail("input_grad_norm(4, True, ...) gave the same value for seeds 5 and 6: the generator is not used")
