"""Forbidden means forbidden (``grader.forbidden``, ``grader.optrace``) and integrity flags
(``grader.integrity``).

Each route below is the reference with one function replaced by a shortcut through a private or
roundabout torch entry point that still computes the right answer (the reference's own result is
returned, so nothing but the forbidden-call test can fail). Graded through the real path
(``pytest tests/qNN -m forbidden --impl <folder>``, in-process and with ``--isolate``): the
forbidden-call test of that function fails, and it fails on the *operator trace* (the recorded ATen
operators), not only on the source. Harmless code (``getattr(w, "shape", w)`` in an error message, a
method that merely contains "softmax" in its name) passes. The static check and the integrity scan are
also tested on their own, on small sources.
"""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from grader import optrace, outcomes
from grader.forbidden import BY_NAME, FAMILIES, families_of, forbidden_operators, function_families, violations
from grader.integrity import scan_source
from grader.questions import PROJECT_ROOT, all_questions, forbidden_calls

pytestmark = pytest.mark.timeout(900)

TRACE = "ran forbidden torch operators"  # the trace's failure (the static check says "may not use")

# route -> {qid: code appended to the reference}; each replaces the functions named in EXPECT[route]
ROUTES = {
    "private": {
        "q23": '''
import numpy as _np
_Base = KVCache
class KVCache(_Base):
    def append(self, layer, k, v):  # the right answer, re-built through numpy on every append
        k_all, v_all = _Base.append(self, layer, k, v)
        old = k_all[:, :, :k_all.shape[2] - k.shape[2]]
        return torch.from_numpy(_np.concatenate([old.numpy(), k.numpy()], axis=2)), v_all
''',
        "q26": '''
_bn, _ln, _rms = batch_norm, layer_norm, rms_norm
def batch_norm(x, gamma, beta, eps=1e-5):
    torch._native_batch_norm_legit(x, gamma, beta, True, 0.0, eps)
    return _bn(x, gamma, beta, eps)
def layer_norm(x, gamma, beta, eps=1e-5):
    torch.ops.aten.native_layer_norm(x, [x.shape[-1]], gamma, beta, eps)
    return _ln(x, gamma, beta, eps)
def rms_norm(x, weight, eps=1e-6):
    torch._C._VariableFunctions.rms_norm(x, [x.shape[-1]], weight, eps)
    return _rms(x, weight, eps)
''',
        "q27": '''
_gelu = gelu
def gelu(x, approximate="none"):
    if approximate in ("none", "tanh"):
        return torch._C._nn.gelu_(x.clone(), approximate=approximate)
    return _gelu(x, approximate)
''',
        "q33": '''
import torch.nn.functional as _F
_sm, _lsm, _ce = softmax, log_softmax, cross_entropy
def softmax(logits, temperature=1.0):
    torch._safe_softmax(logits, -1)
    return _sm(logits, temperature)
def log_softmax(logits, temperature=1.0):
    logits.logcumsumexp(-1)
    return _lsm(logits, temperature)
def cross_entropy(logits, targets, ignore_index=-100):
    _F.softmin(-logits, -1)
    return _ce(logits, targets, ignore_index)
''',
        "q36": '''
import torch.nn.functional as _F
_os, _fa = online_softmax, flash_attention
def online_softmax(x, block_size):
    _os(x, block_size)
    return torch.ops.aten._softmax(x, -1, False)
def flash_attention(q, k, v, causal=True, block_size=64):
    torch._C._nn.scaled_dot_product_attention(q, k, v)
    return _fa(q, k, v, causal, block_size)
''',
    },
    "roundabout": {
        "q23": '''
_Base = KVCache
class KVCache(_Base):
    def append(self, layer, k, v):
        k_all, v_all = _Base.append(self, layer, k, v)
        torch.ops.aten.cat.default([k_all, k], 2)
        return k_all, v_all
''',
        "q27": '''
import torch.nn.functional as _F
from torch.utils import _python_dispatch as _pd
_gelu = gelu
def gelu(x, approximate="none"):  # hides from the trace: only the static check can see this one
    with torch._C.DisableTorchFunction(), _pd._disable_current_modes():
        _F.gelu(x)
    return _gelu(x, approximate)
''',
        "q33": '''
_sm, _lsm = softmax, log_softmax
t = torch
def softmax(logits, temperature=1.0):
    t.special.softmax(logits, -1)
    return _sm(logits, temperature)
def log_softmax(logits, temperature=1.0):
    getattr(t, "logsumexp")(logits, -1)
    return _lsm(logits, temperature)
''',
        "q36": '''
_os = online_softmax
def online_softmax(x, block_size):
    torch.nn.Softmin(dim=-1)(-x)
    return _os(x, block_size)
''',
    },
    "honest": {  # harmless code that must never be flagged (the Q27 false fail, and friends)
        "q27": '''
_gelu = gelu
def gelu(x, approximate="none"):
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"x must be a tensor, got {getattr(x, 'shape', x)!r}")
    return _gelu(x, approximate)
''',
        "q36": '''
_os = online_softmax
class _Blocks:
    def _online_softmax(self, x, block_size):  # a name holding "softmax" on an object: not torch's
        return _os(x, block_size)
def online_softmax(x, block_size):
    return [_Blocks()][0]._online_softmax(x, block_size)
''',
    },
}
# route -> {forbidden-call test (nodeid ending): what fails it: the trace, the source, or
# the source naming the means to tamper with the trace}
EXPECT = {
    "private": {
        "q23/test_kv_cache.py::test_append_does_not_concatenate": "trace",
        "q26/test_norms.py::test_no_library_norms[batch_norm-<lambda>]": "trace",
        "q26/test_norms.py::test_no_library_norms[layer_norm-<lambda>]": "trace",
        "q26/test_norms.py::test_no_library_norms[rms_norm-<lambda>]": "trace",
        "q27/test_ffn.py::test_gelu_writes_its_own_formula": "trace",
        "q33/test_sampling.py::test_no_forbidden_calls[softmax]": "trace",
        "q33/test_sampling.py::test_no_forbidden_calls[log_softmax]": "trace",
        "q33/test_sampling.py::test_no_forbidden_calls[cross_entropy]": "trace",
        "q36/test_flash_attention.py::test_online_softmax_uses_no_softmax": "trace",
        "q36/test_flash_attention.py::test_flash_uses_no_attention_shortcut": "trace",
    },
    "roundabout": {
        "q23/test_kv_cache.py::test_append_does_not_concatenate": "trace",
        "q27/test_ffn.py::test_gelu_writes_its_own_formula": "tamper",  # modes disabled: the static check
        "q33/test_sampling.py::test_no_forbidden_calls[softmax]": "trace",
        "q33/test_sampling.py::test_no_forbidden_calls[log_softmax]": "trace",
        "q33/test_sampling.py::test_no_forbidden_calls[cross_entropy]": "trace",  # through its log_softmax
        "q36/test_flash_attention.py::test_online_softmax_uses_no_softmax": "trace",
        "q36/test_flash_attention.py::test_flash_uses_no_attention_shortcut": "source",  # the whole module
    },
    "honest": {},
}
MODES = {"in-process": [], "isolated": ["--isolate"]}


def _write(route: str, root) -> None:
    for qid, extra in ROUTES[route].items():
        q = all_questions()[qid]
        (root / qid).mkdir(parents=True)
        reference = (PROJECT_ROOT / "solutions" / qid / q.filename).read_text(encoding="utf-8")
        (root / qid / q.filename).write_text(reference + "\n" + extra, encoding="utf-8")


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> dict[tuple[str, str], dict[str, outcomes.Outcome]]:
    out = {}
    for route in ROUTES:
        root = tmp_path_factory.mktemp(f"forbidden_{route}") / "exercises"
        _write(route, root)
        for mode, flags in MODES.items():
            results = root.parent / f"{mode}.json"
            targets = [f"tests/{qid}" for qid in ROUTES[route]]
            cmd = [sys.executable, "-m", "pytest", *targets, "-q", "-p", "no:cacheprovider", "-m",
                   "forbidden and not timing", "--impl", str(root), "--results", str(results), *flags]
            proc = subprocess.run(cmd, cwd=PROJECT_ROOT, capture_output=True, text=True)
            assert results.exists(), f"{' '.join(cmd)}: no results\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
            out[(route, mode)] = {o.nodeid.split("tests/", 1)[-1]: o for o in outcomes.read(results)}
    return out


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("route", list(ROUTES))
def test_forbidden_routes_fail_their_test(graded, route, mode):
    outcomes = graded[(route, mode)]
    assert outcomes, f"{route} ({mode}): no forbidden-call test ran"
    for nodeid, o in outcomes.items():
        must_fail = nodeid in EXPECT[route]
        if not must_fail:
            assert o.status == "passed", f"{route} ({mode}): {nodeid} should pass, got {o.status}: {o.message}"
            continue
        assert o.status == "failed", f"{route} ({mode}): {nodeid} should fail, got {o.status}"
        why = EXPECT[route][nodeid]
        if why == "trace":
            assert TRACE in o.message, f"{route} ({mode}): {nodeid} failed, but not on the trace: {o.message}"
        else:
            assert "may not use" in o.message and (why == "source" or "operator trace" in o.message), o.message
    missing = set(EXPECT[route]) - set(outcomes)
    assert not missing, f"{route} ({mode}): these tests did not run: {missing}"


# --- the parts on their own ------------------------------------------------------------------------

PRIVATE_ROUTES = {  # (qid, function, source of the call on x) -> every one is a forbidden operator
    ("q33", "softmax", "torch._safe_softmax(x, -1)"),
    ("q33", "softmax", "torch.nn.functional.softmin(-x, -1)"),
    ("q36", "online_softmax", "x.logcumsumexp(-1)"),
    ("q36", "online_softmax", "torch.ops.aten.logsumexp.default(x, [-1])"),
    ("q26", "batch_norm", "torch._native_batch_norm_legit(x, None, None, True, 0.1, 1e-5)"),
    ("q26", "batch_norm", "torch.nn.functional.instance_norm(x)"),
    ("q26", "rms_norm", "torch.nn.RMSNorm(4)(x)"),
    ("q26", "layer_norm", "torch.nn.functional.group_norm(x, 1)"),
    ("q27", "gelu", "torch._C._nn.gelu_(x.clone())"),
    ("q27", "gelu", "torch.ops.aten.gelu.default(x)"),
    ("q36", "flash_attention", "torch.nn.functional.scaled_dot_product_attention(x, x, x)"),
    ("q23", "append", "torch.ops.aten.cat([x, x])"),
    ("q23", "append", "torch.hstack([x, x])"),
    ("q23", "append", "torch.from_numpy(x.numpy().copy())"),
    ("q33", "cross_entropy", "torch.nn.functional.nll_loss(x[0], torch.tensor([1, 2, 0]))"),
}


@pytest.mark.parametrize("qid,function,call", sorted(PRIVATE_ROUTES))
def test_private_route_is_seen_by_trace_and_source(qid, function, call):
    rules = forbidden_calls(qid)
    x = torch.randn(2, 3, 4)
    with optrace.record(set()) as names:
        eval(call, {"torch": torch, "x": x})
    assert forbidden_operators(names, function_families(rules, function)), f"{call}: trace {sorted(names)}"
    assert violations(f"import torch\ndef {function}(x):\n    return {call}\n", {function: rules[function]}), call


def test_every_declared_torch_name_has_a_family():
    for qid in all_questions():
        for function, names in forbidden_calls(qid).items():
            for name in names:
                if name not in ("eval", "exec", "compile"):
                    assert families_of(name), f"{qid} {function}: {name} maps to no operator family"
    assert {f.name for f in FAMILIES} == set(BY_NAME)


def test_getattr_in_an_error_message_is_harmless():
    """The Q27 false fail: a literal getattr is an attribute access, not a dynamic lookup."""
    source = ("import torch\n\ndef gelu(x, approximate='none'):\n    if approximate not in ('none', 'tanh'):\n"
              "        raise ValueError(f'bad approximate for x of shape {getattr(x, \"shape\", x)}')\n"
              "    return 0.5 * x * (1 + torch.erf(x / 2 ** 0.5))\n")
    assert violations(source, forbidden_calls("q27")) == []
    assert violations(source.replace("getattr(x, \"shape\", x)", "getattr(torch, \"ge\" + \"lu\")"),
                      forbidden_calls("q27")), "a computed getattr is still a dynamic lookup"
    assert violations(source.replace("getattr(x, \"shape\", x)", "getattr(torch.nn.functional, \"gelu\")"),
                      forbidden_calls("q27")), "a literal getattr of a forbidden name is that name"


@pytest.mark.parametrize("source", [
    "import torch\nclass M(torch.nn.Module):\n    def f(self):\n        return list(self.modules())\n",
    "from re import compile\nP = compile('a+')\n",
    "import torch\ndef f(x):\n    with torch.inference_mode():\n        return torch.mode(x).values\n",
    "import operator\ndef f(a, b):\n    return operator.mul(a, b)\n",
])
def test_harmless_code_is_not_flagged(source):
    for qid in ("q26", "q27", "q33", "q36"):
        assert violations(source, forbidden_calls(qid)) == [], (qid, source)


INTEGRITY = {
    "introspection": "import sys\ndef f():\n    return sys._getframe(1).f_back\n",
    "introspection ": "import gc\ndef f():\n    return gc.get_referrers(f)\n",
    "ctypes": "import ctypes\n",
    "proc": "def f():\n    open('/proc/self/clear_refs').read()\n",
    "threads": "import torch\ntorch.set_num_threads(2)\n",
    "threads ": "import os\nos.sched_setaffinity(0, {0, 1})\n",
    "threads  ": "from concurrent.futures import ThreadPoolExecutor\n",
    "private_torch": "import torch\ndef f(x):\n    return torch._C._nn.gelu(x)\n",
    "write_outside": "def f():\n    with open('/tmp/planted.txt', 'w') as fh:\n        fh.write('x')\n",
}


@pytest.mark.parametrize("kind", list(INTEGRITY))
def test_integrity_flags(kind):
    flags = scan_source(INTEGRITY[kind])
    assert kind.strip() in {f["kind"] for f in flags}, flags


def test_no_integrity_flags_on_the_references():
    from grader.integrity import scan_submission
    assert scan_submission(PROJECT_ROOT / "solutions", list(all_questions().values())) == {}
    assert scan_source("def f(path):\n    open('out.txt', 'w').write(str(getattr(path, 'shape', path)))\n") == []


def test_integrity_flags_reach_the_report(tmp_path):
    """Graded for real: the flags are in the JSON (per question and at the top) and the score table."""
    root = tmp_path / "exercises"
    (root / "q27").mkdir(parents=True)
    reference = (PROJECT_ROOT / "solutions" / "q27" / "ffn.py").read_text(encoding="utf-8")
    (root / "q27" / "ffn.py").write_text(reference + "\nimport torch as _t\n_t.set_num_threads(1)\n", encoding="utf-8")
    report = tmp_path / "report.json"
    cmd = [sys.executable, "-m", "grader.cli", "grade", str(root), "--no-isolate", "--no-timing", "--only", "q27",
           "--json", str(report)]
    proc = subprocess.run(cmd, cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert report.exists(), proc.stdout[-2000:] + proc.stderr[-2000:]
    rep = json.loads(report.read_text(encoding="utf-8"))
    q = rep["questions"]["q27"]
    assert [f["kind"] for f in q["integrity"]] == ["threads"], q["integrity"]
    assert rep["integrity"] and rep["integrity"][0]["qid"] == "q27"
    assert "integrity flag" in proc.stdout and "torch.set_num_threads" in proc.stdout, proc.stdout[-2000:]
