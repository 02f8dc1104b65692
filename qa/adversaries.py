"""Submissions that do nothing, written from the stubs: they must earn nothing.

``write(kind, out)`` copies ``exercises/`` to ``out`` and replaces the body of every function and method
the stubs leave unimplemented (``raise NotImplementedError``) with:

- ``raise``: ``raise ValueError("<every argument name>")`` (passes any test that only wants a ValueError
  naming an argument);
- ``constant``: the first tensor argument as zeros (``torch.zeros_like``), else ``0``;
- ``nan``: the first tensor argument as NaN, else ``float('nan')``;
- ``echo``: the first argument itself, unchanged (a copy for tensors).

``__init__`` methods only store their arguments. Run ``python qa/adversaries.py KIND OUT`` to write one
and ``llmgrade grade OUT`` to see its score.
"""
from __future__ import annotations

import ast
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KINDS = ("raise", "constant", "nan", "echo")


def _is_stub(fn: ast.FunctionDef) -> bool:
    for node in ast.walk(fn):
        if isinstance(node, ast.Raise) and node.exc is not None:
            exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if isinstance(exc, ast.Name) and exc.id == "NotImplementedError":
                return True
    return False


def _args(fn: ast.FunctionDef) -> list[str]:
    a = fn.args
    names = [x.arg for x in a.posonlyargs + a.args + a.kwonlyargs]
    return [n for n in names if n not in ("self", "cls")]


def _body(kind: str, fn: ast.FunctionDef, in_class: bool) -> list[ast.stmt]:
    names = _args(fn)
    if in_class and fn.name == "__init__":
        return ast.parse("\n".join([f"self.{n} = {n}" for n in names] or ["pass"])).body
    doc = [fn.body[0]] if fn.body and isinstance(fn.body[0], ast.Expr) and \
        isinstance(getattr(fn.body[0], "value", None), ast.Constant) else []
    first_tensor = (f"next((v for v in ({', '.join(names)},) if isinstance(v, torch.Tensor)), None)"
                    if names else "None")
    if kind == "raise":
        code = f"raise ValueError({' '.join(names)!r})"
    elif kind == "constant":
        code = f"_t = {first_tensor}\nreturn torch.zeros_like(_t) if _t is not None else 0"
    elif kind == "nan":
        code = (f"_t = {first_tensor}\nreturn torch.full_like(_t.double() if not _t.is_floating_point() else _t,"
                f" float('nan')) if _t is not None else float('nan')")
    elif kind == "echo":
        code = (f"_a = {names[0] if names else 'None'}\n"
                f"return _a.clone() if isinstance(_a, torch.Tensor) else _a")
    else:
        raise ValueError(kind)
    return doc + ast.parse("import torch\n" + code).body


class _Rewrite(ast.NodeTransformer):
    def __init__(self, kind: str):
        self.kind = kind
        self.depth = 0

    def visit_ClassDef(self, node):
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1
        return node

    def visit_FunctionDef(self, node):
        if _is_stub(node):
            node.body = _body(self.kind, node, self.depth > 0)
        return node


def rewrite(source: str, kind: str) -> str:
    tree = _Rewrite(kind).visit(ast.parse(source))
    return ast.unparse(ast.fix_missing_locations(tree))


def write(kind: str, out: Path) -> Path:
    """A copy of exercises/ at ``out`` with every stub function doing ``kind``; returns ``out``."""
    from grader.questions import existing
    out = Path(out)
    shutil.copytree(ROOT / "exercises", out, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
    for q in existing(ROOT):
        path = out / q.qid / q.filename
        path.write_text(rewrite(path.read_text(encoding="utf-8"), kind), encoding="utf-8")
    return out


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in KINDS:
        sys.exit(f"usage: python qa/adversaries.py {{{'|'.join(KINDS)}}} OUT")
    sys.path.insert(0, str(ROOT))
    print(write(sys.argv[1], Path(sys.argv[2])))
