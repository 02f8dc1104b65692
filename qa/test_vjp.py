"""Gradients across the isolation boundary (grader/vjp.py, the worker's 'vjp' request, grader/checks/grad.py).

1. One probe submission seen in-process and through the worker gives the same vjp results: gradients,
   None for an unused input, grad_fn flags (a tuple output, a detached one), a backward that raises, an
   input changed in place, callables of the trusted side inside the graph (once, twice, under no_grad).
2. The gradient tests give the same verdicts in-process and isolated, on the references and on the
   gradient mutants (each loses its test_grad_* tests and nothing else, both ways).
"""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import torch

from support import run_pytest
from grader.checks import CheckFailure
from grader.checks.grad import f64, gradients_match
from grader.isolation import WorkerProvider
from grader.loading import InProcessProvider, SubmissionError
from grader.mutants import build, catalog
from grader.questions import PROJECT_ROOT

PROBE = '''
import numpy as np
import torch


def scale_and_shift(x, w, b):
    return x * w + b


def ignores_b(x, w, b):
    return x * w


def pair(x, w):
    return x * w, (x * w).detach()


def through_numpy(x):
    return torch.from_numpy(np.tanh(x.detach().numpy()))


def breaks_backward(x):
    e = torch.exp(x)
    e += 1.0  # overwrites exp's saved output
    return e


def changes_input(x):
    x.add_(1.0)
    return x * 2


def apply(fn, x):
    return x + fn(x)


def apply_twice(fn, x):
    return fn(fn(x)) * x


def apply_without_grad(fn, x):
    with torch.no_grad():
        h = fn(x)
    return x * h
'''


@pytest.fixture(scope="module")
def probe_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("vjp_probe")
    (root / "q21").mkdir()
    (root / "q21" / "causal_mask.py").write_text(textwrap.dedent(PROBE), encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def subs(probe_root):
    isolated = WorkerProvider(probe_root, call_timeout=30)
    yield {"in-process": InProcessProvider(probe_root).get("q21"), "isolated": isolated.get("q21")}
    isolated.close()


def _both(subs, name, args, wrt, cotangent):
    return {k: s._vjp(name, args, {}, wrt=wrt, cotangent=cotangent) for k, s in subs.items()}


def _same(a: dict, b: dict) -> None:
    assert a["grad_fn"] == b["grad_fn"] and (a["backward_error"] is None) == (b["backward_error"] is None)
    for ga, gb in zip(a["grads"], b["grads"]):
        assert (ga is None) == (gb is None)
        if ga is not None:
            assert torch.equal(ga, gb)


X, W, B = f64(3, 4, seed=1), f64(4, seed=2), f64(4, seed=3)
G = f64(3, 4, seed=4)


def test_gradients_and_unused_inputs(subs):
    r = _both(subs, "scale_and_shift", (X, W, B), (0, 1, 2), G)
    _same(r["in-process"], r["isolated"])
    got = r["isolated"]
    assert got["grad_fn"] is True and got["backward_error"] is None
    assert torch.allclose(got["grads"][0], G * W) and torch.allclose(got["grads"][1], (G * X).sum(0))
    assert torch.equal(got["grads"][2], G.sum(0))
    r = _both(subs, "ignores_b", (X, W, B), (0, 2), G)
    _same(r["in-process"], r["isolated"])
    assert r["isolated"]["grads"][1] is None


def test_tuple_output_flags_each_tensor(subs):
    r = _both(subs, "pair", (X, W), (0, 1), [G, G])
    _same(r["in-process"], r["isolated"])
    assert r["isolated"]["grad_fn"] == [True, False]
    assert isinstance(r["isolated"]["output"], tuple)


def test_outside_torch_has_no_grad_fn(subs):
    r = _both(subs, "through_numpy", (X,), (0,), G)
    _same(r["in-process"], r["isolated"])
    assert r["isolated"]["grad_fn"] is False and r["isolated"]["grads"] == [None]


def test_a_failing_backward_is_reported_not_raised(subs):
    r = _both(subs, "breaks_backward", (X,), (0,), G)
    _same(r["in-process"], r["isolated"])
    assert "modified by an inplace operation" in r["isolated"]["backward_error"]


def test_an_input_changed_in_place_fails_both_ways(subs):
    for s in subs.values():
        with pytest.raises(SubmissionError, match="changed in place"):
            s._vjp("changes_input", (X,), {}, wrt=(0,), cotangent=G)
    assert torch.equal(X, f64(3, 4, seed=1))  # the caller's tensor is untouched


@pytest.mark.parametrize("name", ["apply", "apply_twice", "apply_without_grad"])
def test_callables_of_the_grader_take_part_in_autograd(subs, name):
    w = f64(4, 4, seed=5, scale=0.5)
    fn = lambda h: torch.tanh(h @ w)  # noqa: E731 - lives on the trusted side
    r = _both(subs, name, (fn, X), (1,), G)
    _same(r["in-process"], r["isolated"])
    x = X.clone().requires_grad_(True)
    if name == "apply":
        out = x + fn(x)
    elif name == "apply_twice":
        out = fn(fn(x)) * x
    else:
        out = x * fn(x).detach()
    (expected,) = torch.autograd.grad(out, x, G)
    assert torch.allclose(r["isolated"]["grads"][0], expected, rtol=1e-12, atol=1e-12)


def test_the_check_names_what_is_wrong(subs):
    for s in subs.values():
        with pytest.raises(CheckFailure, match=r"returned a tensor with no grad_fn \(is something computed outside "
                                               r"torch, or under no_grad\?\)"):
            gradients_match(s._vjp, through_numpy, (X,), wrt=("x",))
        with pytest.raises(CheckFailure, match=r"backward through your breaks_backward failed"):
            gradients_match(s._vjp, breaks_backward, (X,), wrt=("x",))
        with pytest.raises(CheckFailure, match=r"ignores_b gives no gradient w.r.t. b"):
            gradients_match(s._vjp, ignores_b, (X, W, B), wrt=("x", "w", "b"))


# references of the probe's functions (same names), written in torch
def through_numpy(x):
    return torch.tanh(x)


def breaks_backward(x):
    return torch.exp(x) + 1.0


def ignores_b(x, w, b):
    return x * w + 0 * b



# --- 2. verdicts of the gradient tests, in-process and isolated -------------------------------------

GRAD_MUTANTS = [m for m in catalog() if m.name in ("grad_layer_norm_numpy", "grad_layer_norm_in_place",
                                                    "grad_identity_path_detached", "grad_detached_scores")]


@pytest.mark.timeout(900)
@pytest.mark.parametrize("label", [m.label for m in GRAD_MUTANTS])
def test_gradient_verdicts_agree_in_process_and_isolated(tmp_path, label):
    mutant = next(m for m in GRAD_MUTANTS if m.label == label)
    impl = build(mutant, tmp_path)
    verdicts = {}
    for mode in ((), ("--isolate",)):
        outcomes = run_pytest([str(PROJECT_ROOT / "tests" / mutant.qid)], tmp_path / f"{len(mode)}.xml",
                              "--impl", str(impl), "-m", "not timing", *mode)
        verdicts[mode] = {o.nodeid: o.status for o in outcomes}
    assert verdicts[()] == verdicts[("--isolate",)]
    failed = {n.split("::")[-1] for n, s in verdicts[()].items() if s in ("failed", "error")}
    assert failed and all(n.startswith("test_grad_") for n in failed), failed
