"""Forbidden calls: a static check of a submission's source against ``exercises/qNN/forbidden.toml``.

What it catches: a forbidden call written directly (``torch.nn.functional.layer_norm(...)``), through
an import alias (``import torch.nn.functional as F; F.layer_norm``), a ``from`` import
(``from torch.nn.functional import layer_norm as ln``) or a module alias (``nn = torch.nn``), and any
mention of a forbidden name as an attribute. It also refuses dynamic lookups in a function that has a
forbidden list (the builtins ``getattr``, ``eval``, ``exec``, ``compile``, ``__import__``, ``globals``,
``vars``; ``importlib``, ``builtins``, ``operator``; any ``.__dict__``/``.__globals__``/``sys.modules``),
since those are how a static check is dodged. Methods that merely share a name (``re.compile``,
``self.eval``) are fine.
What it cannot catch: a forbidden function reached through another library that wraps it, or code
that builds the call some way not listed above. The reviewer's eye stays the last line of defence.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from .checks.core import fail
from .questions import forbidden_calls

# Builtins that look names up at run time (flagged as bare names: `getattr(...)`, not `re.compile`).
DYNAMIC_NAMES = {"getattr", "eval", "exec", "compile", "__import__", "globals", "vars", "locals", "__builtins__",
                 "importlib", "builtins"}
# Attributes that reach namespaces (flagged on any object), and modules whose every attribute is dynamic.
DYNAMIC_ATTRS = {"__dict__", "__builtins__", "__globals__", "__getattribute__", "import_module", "modules"}
DYNAMIC_ROOTS = {"builtins", "importlib", "operator"}


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


def _aliases(tree: ast.AST) -> dict[str, str]:
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                aliases[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module:
            for a in node.names:
                aliases[a.asname or a.name] = f"{node.module}.{a.name}"
    for node in ast.walk(tree):  # module-level re-binding: nn = torch.nn
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            d = _dotted(node.value, aliases)
            if d and "." in d:
                aliases[node.targets[0].id] = d
    return aliases


def _matches(dotted: str, forbidden: str) -> bool:
    """``torch.nn.functional.layer_norm`` matches itself and any ``torch.<...>.layer_norm``;
    ``.softmax`` (leading dot) matches any attribute of that name, e.g. the method ``x.softmax``."""
    last = forbidden.split(".")[-1]
    if forbidden.startswith("."):
        return dotted.split(".")[-1] == last and "." in dotted
    return dotted == forbidden or (dotted.split(".")[-1] == last and dotted.split(".")[0] == forbidden.split(".")[0])


def violations(source: str, forbidden: dict[str, list[str]]) -> list[Violation]:
    """Forbidden uses in ``source`` for each function in ``forbidden`` (key ``"*"``: for all of them)."""
    tree = ast.parse(source)
    aliases = _aliases(tree)
    found: list[Violation] = []
    everywhere = forbidden.get("*", [])
    for fn, calls in forbidden.items():
        # The whole module is checked, not only the function's body: helpers it calls are code too.
        for node in ast.walk(tree):
            if isinstance(node, (ast.Attribute, ast.Name)):
                d = _dotted(node, aliases)
                if d is None:
                    continue
                for call in calls + everywhere:
                    if _matches(d, call):
                        found.append(Violation(fn, call, getattr(node, "lineno", 0)))
                if isinstance(node, ast.Name) and node.id in DYNAMIC_NAMES or \
                        isinstance(node, ast.Attribute) and (node.attr in DYNAMIC_ATTRS
                                                             or d.split(".")[0] in DYNAMIC_ROOTS):
                    found.append(Violation(fn, f"dynamic lookup `{d}`", getattr(node, "lineno", 0)))
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names]
                mod = getattr(node, "module", None) or ""
                if "importlib" in names or mod.startswith("importlib"):
                    found.append(Violation(fn, "dynamic lookup `importlib`", node.lineno))
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
             f"{', '.join(chosen.get(function, []) + chosen.get('*', []))}",
             hint="write the computation yourself; the point of the exercise is what those calls hide")
