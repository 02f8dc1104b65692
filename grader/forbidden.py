"""Forbidden calls: what a function may not use, checked twice (``exercises/qNN/forbidden.toml``).

1. **The operators it really runs** (``no_forbidden_calls``): the test's block runs with the torch
   functions and ATen operators the submission dispatches recorded (``grader.optrace``), and fails if
   one belongs to a forbidden *family* (``FAMILIES``: softmax, norm, gelu, attention, nll, concat,
   numpy), whatever name reached it: ``F.softmin(-x)``, ``torch._safe_softmax``,
   ``torch._native_batch_norm_legit``, ``torch._C._nn.gelu_``, ``torch.ops.aten.cat``, an
   ``nn.Module``, TorchScript. A function's families follow from the names its ``forbidden.toml`` list
   declares (``families_of``), so the table here is the one place that maps names to operators. Only the
   forbidden-call tests ask for the trace; in the isolated worker it runs inside the submission's
   process and is at its mercy, which is why the static check below refuses the means to tamper with it.
2. **The source** (``assert_no_forbidden_calls``), the whole module (helpers are code too):
   - each declared name, written directly (``torch.nn.functional.layer_norm``), through an import alias
     (``import torch.nn.functional as F; F.layer_norm``), a ``from`` import, a module alias
     (``nn = torch.nn``, ``t = torch``) or ``getattr(obj, "literal")``; a leading dot
     (``.softmax``) matches that attribute on anything, e.g. the method ``x.softmax``;
   - any name under ``torch`` (private ones included: ``torch._…``, ``torch._C…``, ``torch.ops.aten…``)
     whose parts belong to one of the function's families, and private attribute chains on anything
     (``[torch][0]._C._nn.gelu_``);
   - in a function with families, the operator-trace tampering names (``TAMPER``: the dispatch and
     torch-function mode stacks, ``torch.library``);
   - dynamic lookups in a function with a forbidden list (``getattr`` with a computed name, ``eval``,
     ``exec``, ``compile``, ``__import__``, ``globals``, ``vars``, ``importlib``, ``builtins``,
     ``operator.attrgetter``, ``.__dict__``, ``.__globals__``, ``sys.modules``,
     ``inspect.getmembers``), since those are how a static check is dodged.
   Harmless code is left alone: ``getattr(w, "shape", w)`` is just ``w.shape``; methods that merely
   share a name (``re.compile``, ``self.eval``, ``model.modules()``) are fine.
What neither can see: a kernel run in a thread of its own (a Python thread does not inherit the modes:
``grader.integrity`` flags threads for the interviewer), or a library outside torch wrapping it.
"""
from __future__ import annotations

import ast
import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from .checks.core import fail
from .questions import forbidden_calls

# Builtins that look names up at run time (flagged as bare names: `getattr(...)`, not `re.compile`).
DYNAMIC_NAMES = {"getattr", "eval", "exec", "compile", "__import__", "globals", "vars", "locals", "__builtins__",
                 "importlib", "builtins"}
# Attributes that reach namespaces (flagged on any object), dotted names that are lookups by string, and
# modules whose every attribute is dynamic.
DYNAMIC_ATTRS = {"__dict__", "__builtins__", "__globals__", "__getattribute__", "__getattr__", "import_module"}
DYNAMIC_DOTTED = {"sys.modules", "operator.attrgetter", "operator.methodcaller", "inspect.getmembers",
                  "inspect.getmembers_static", "inspect.getattr_static"}
DYNAMIC_ROOTS = {"builtins", "importlib"}


@dataclass(frozen=True)
class Family:
    """Operators that do the work a function must write itself. A name (a torch function, an ATen
    operator, a part of a dotted name) belongs to the family if it contains one of ``words``
    (case-insensitive) or, without its leading underscores, is one of ``exact``."""
    name: str
    words: tuple[str, ...] = ()
    exact: tuple[str, ...] = ()

    def has(self, name: str) -> bool:
        low = name.lower()
        return any(w in low for w in self.words) or low in self.exact or low.lstrip("_") in self.exact


FAMILIES = (
    Family("softmax", words=("softmax", "softmin", "logsumexp", "logcumsumexp")),  # _softmax, _safe_softmax, ...
    Family("norm", words=("batch_norm", "layer_norm", "rms_norm", "group_norm", "instance_norm", "batchnorm",
                          "layernorm", "rmsnorm", "groupnorm", "instancenorm")),  # native_*, _native_*_legit*
    Family("gelu", words=("gelu",)),
    Family("attention", words=("scaled_dot_product", "scaled_dot_attention", "multi_head_attention",
                               "multiheadattention", "flash_attention", "efficient_attention", "cudnn_attention",
                               "fused_attention", "fused_sdp", "sdpa")),
    Family("nll", words=("cross_entropy", "crossentropy", "nll_loss", "nllloss")),
    Family("concat", exact=("cat", "concat", "concatenate", "stack", "hstack", "vstack", "dstack",
                            "column_stack", "row_stack")),
    Family("numpy", exact=("numpy", "from_numpy", "__array__", "tolist")),  # a tensor sent out through numpy or a list
)
BY_NAME = {f.name: f for f in FAMILIES}

# Names that reach the operator trace itself (mode stacks, dispatch keys) or register kernels it cannot
# see into: refused in a function with families.
TAMPER = ("_python_dispatch", "dispatch_stack", "dispatch_mode", "dispatchmode", "torchdispatch", "torch_dispatch",
          "torch_function", "torchfunction", "_pop_mode", "_push_mode", "current_mode", "function_mode",
          "dispatch_key", "dispatchkey", "disabletorch", "python_dispatcher", "pythondispatcher", "_dispatch_")
TAMPER_TORCH = ("library", "_library", "_dispatch", "_ops")  # torch.<this>


def families_of(name: str) -> set[str]:
    """The families a declared forbidden name stands for: ``torch.nn.functional.layer_norm`` -> {norm},
    ``.logsumexp`` -> {softmax}, ``numpy.concatenate`` -> {concat, numpy}, ``eval`` -> {}."""
    parts = [p for p in name.split(".") if p]
    out = {f.name for f in FAMILIES if parts and f.has(parts[-1])}
    if parts and parts[0] in ("numpy", "np"):
        out.add("numpy")
    return out


def function_families(rules: dict[str, list[str]], function: str) -> list[Family]:
    names = rules.get(function, []) + rules.get("*", [])
    return [BY_NAME[n] for n in sorted({f for name in names for f in families_of(name)})]


@dataclass(frozen=True)
class Violation:
    function: str
    call: str
    line: int


def _dotted(node: ast.AST, aliases: dict[str, str]) -> str | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(aliases.get(node.id, node.id))
        return ".".join(reversed(parts))
    return None


def _attr_chain(node: ast.Attribute) -> list[str]:
    """The attribute names of ``<anything>.a.b.c`` (for chains on a base that is not a name)."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    return list(reversed(parts))


def _aliases(tree: ast.AST) -> dict[str, str]:
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                aliases[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module:
            for a in node.names:
                aliases[a.asname or a.name] = f"{node.module}.{a.name}"
    imported = {v.split(".")[0] for v in aliases.values()}
    for node in ast.walk(tree):  # re-binding: nn = torch.nn, t = torch
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            d = _dotted(node.value, aliases)
            if d and d != node.targets[0].id and ("." in d or d in imported):
                aliases[node.targets[0].id] = d
    return aliases


def _matches(dotted: str, forbidden: str) -> bool:
    """``torch.nn.functional.layer_norm`` matches itself and any ``torch.<...>.layer_norm``;
    ``.softmax`` (leading dot) matches any attribute of that name, e.g. the method ``x.softmax``."""
    last = forbidden.split(".")[-1]
    if forbidden.startswith("."):
        return dotted.split(".")[-1] == last and "." in dotted
    return dotted == forbidden or (dotted.split(".")[-1] == last and dotted.split(".")[0] == forbidden.split(".")[0])


def _literal_getattrs(tree: ast.AST, aliases: dict[str, str]) -> tuple[set[int], list[tuple[str, list[str], int]]]:
    """``getattr(obj, "name"[, default])``: the same as ``obj.name``. Returns the ids of those ``getattr``
    names (not dynamic) and, for each such call, (dotted name or "", attribute chain, line)."""
    safe: set[int] = set()
    found: list[tuple[str, list[str], int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr" \
                and "getattr" not in aliases and 2 <= len(node.args) <= 3 and not node.keywords \
                and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str):
            safe.add(id(node.func))
            base = node.args[0]
            d = _dotted(base, aliases)
            chain = (_attr_chain(base) if isinstance(base, ast.Attribute) else []) + [node.args[1].value]
            found.append((f"{d}.{node.args[1].value}" if d else "", chain, node.lineno))
    return safe, found


# Parts of torch's private namespaces: an attribute chain holding one is torch's, whatever its base.
TORCH_PRIVATE = {"_C", "_nn", "_VariableFunctions", "_VariableFunctionsClass", "_TensorBase", "_refs", "_prims",
                 "_decomp", "_ops", "aten", "_special", "_linalg", "_fft", "_python_dispatch"}


def violations(source: str, forbidden: dict[str, list[str]]) -> list[Violation]:
    """Forbidden uses in ``source`` for each function in ``forbidden`` (key ``"*"``: for all of them)."""
    tree = ast.parse(source)
    aliases = _aliases(tree)
    safe_getattr, literal = _literal_getattrs(tree, aliases)
    found: list[Violation] = []
    everywhere = forbidden.get("*", [])
    for fn, calls in forbidden.items():
        families = function_families(forbidden, fn)

        def by_family(dotted: str, chain: list[str], line: int) -> None:
            # torch.<...> (any part), or an attribute chain with a private part on anything else
            parts = dotted.split(".") if dotted else []
            torch_rooted = parts[:1] == ["torch"]
            named = parts[1:] if torch_rooted else chain if not parts and TORCH_PRIVATE & set(chain) else []
            shown = dotted or f"….{'.'.join(chain)}"
            for fam in families:
                if any(fam.has(p) for p in named):
                    found.append(Violation(fn, f"`{shown}` (the {fam.name} family)", line))
            if families and (any(w in p.lower() for p in named for w in TAMPER)
                             or torch_rooted and len(parts) > 1 and parts[1] in TAMPER_TORCH):
                found.append(Violation(fn, f"`{shown}` (reaches the operator trace)", line))

        for node in ast.walk(tree):
            if isinstance(node, (ast.Attribute, ast.Name)):
                d = _dotted(node, aliases)
                line = getattr(node, "lineno", 0)
                if d is None:
                    if isinstance(node, ast.Attribute):
                        by_family("", _attr_chain(node), line)
                    continue
                for call in calls + everywhere:
                    if _matches(d, call):
                        found.append(Violation(fn, call, line))
                by_family(d, [], line)
                dynamic = (isinstance(node, ast.Name) and node.id in DYNAMIC_NAMES and node.id not in aliases
                           and id(node) not in safe_getattr) \
                    or (isinstance(node, ast.Attribute) and node.attr in DYNAMIC_ATTRS) \
                    or d in DYNAMIC_DOTTED or (d.split(".")[0] in DYNAMIC_ROOTS
                                               and (isinstance(node, ast.Attribute) or node.id in aliases))
                if dynamic:
                    found.append(Violation(fn, f"dynamic lookup `{d}`", line))
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names]
                mod = getattr(node, "module", None) or ""
                if "importlib" in names or mod.startswith("importlib"):
                    found.append(Violation(fn, "dynamic lookup `importlib`", node.lineno))
        for d, chain, line in literal:
            if d:
                for call in calls + everywhere:
                    if _matches(d, call):
                        found.append(Violation(fn, call, line))
            by_family(d, chain, line)
    unique = {(v.function, v.call, v.line): v for v in found}
    return sorted(unique.values(), key=lambda v: (v.line, v.call))


def assert_no_forbidden_calls(sub, function: str) -> None:
    """Fail if the submission's module uses a call forbidden for ``function`` (or for ``*``)."""
    qid = sub._question.qid
    rules = forbidden_calls(qid)
    chosen = {k: v for k, v in rules.items() if k in (function, "*")}
    if not chosen:
        return
    path: Path = sub._path
    try:
        source = path.read_text(encoding="utf-8")
        found = violations(source, chosen)
    except (OSError, SyntaxError, ValueError) as e:
        fail(f"cannot read {path.name} to check for forbidden calls: {e}")
    if found:
        v = found[0]
        fail(f"{function} may not use {v.call} ({path.name} line {v.line}); forbidden here: "
             f"{_listed(chosen, function)}",
             hint="write the computation yourself; the point of the exercise is what those calls hide")


def _listed(rules: dict[str, list[str]], function: str) -> str:
    names = rules.get(function, []) + rules.get("*", [])
    fams = [f.name for f in function_families(rules, function)]
    return ", ".join(names) + (f" (and every torch route to the {'/'.join(fams)} operators)" if fams else "")


# --- the operator trace -----------------------------------------------------------------------------

def forbidden_operators(names: set[str], families: list[Family]) -> list[tuple[str, str]]:
    """(operator, family) for each recorded name that belongs to one of ``families``."""
    return sorted({(n, f.name) for n in names for f in families if f.has(n)})


@contextmanager
def _recording(sub) -> Iterator[set[str]]:
    """Record what the submission runs inside the block: in the worker with ``--isolate``, else here."""
    own = vars(sub)  # the view's own attributes (its __getattr__ is the submission's namespace)
    session = own.get("_session")
    if session is not None and hasattr(session, "trace"):
        names: set[str] = set()
        session.trace(True)
        try:
            yield names
        except BaseException:
            _quietly(session.trace, False)
            raise
        got = session.trace(False)
        if got is None:
            fail("the worker did not return the operators it ran (it stopped, or its trace was removed)",
                 hint="do not change torch's dispatch or function modes")
        names |= got
        return
    from . import optrace
    module, path = own.get("_module"), own.get("_path")
    accept = optrace.from_frames(str(path) if path is not None else None, optrace.code_objects(module))
    with optrace.record(set(), accept) as names:
        yield names


def _quietly(fn, *args) -> None:
    try:
        fn(*args)
    except Exception:  # noqa: BLE001 - the block's own error is the one to report
        pass


@contextmanager
def no_forbidden_calls(sub, function: str) -> Iterator[None]:
    """Run the block (calls of ``function``, or of a method, on valid inputs) with the operators the
    submission runs recorded; then fail if one belongs to a family forbidden for ``function``, and run
    the static check (``assert_no_forbidden_calls``). An error of the block (a stub) is reported as it is.
    """
    rules = forbidden_calls(sub._question.qid)
    families = function_families(rules, function)
    with _recording(sub) as names:
        yield
    bad = forbidden_operators(names, families)
    if bad:
        ops = ", ".join(f"{op} ({fam})" for op, fam in bad[:5])
        fail(f"{function} ran forbidden torch operators: {ops}; forbidden here: {_listed(rules, function)}",
             hint="whatever name reaches them (a private torch function, torch.ops.aten, a module), these "
                  "operators do the work the exercise asks you to write yourself")
    assert_no_forbidden_calls(sub, function)


_NAME = re.compile(r"[A-Za-z0-9_.:]{1,100}")


def trace_names(value) -> set[str] | None:
    """The operator names of a worker's trace reply (plain short strings; None if it is not a list)."""
    if not isinstance(value, list):
        return None
    return {v for v in value[:10_000] if type(v) is str and _NAME.fullmatch(v)}
