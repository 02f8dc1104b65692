"""A disguised copy of a module, as a candidate hiding a copy would make it: every local variable renamed,
private helpers renamed, comments rewritten (the originals dropped,
new ones added), the code reformatted (ast.unparse), and the top-level functions in reverse order. The
functions keep their parameters (keyword calls still work) and the public ones their names: graded with
`llmgrade grade --no-timing`, the disguised copies of all 20 references earn what the references earn."""
from __future__ import annotations

import ast


class _Rename(ast.NodeTransformer):
    def __init__(self, mapping: dict[str, str]):
        self.mapping = mapping

    def visit_Name(self, node: ast.Name) -> ast.Name:
        node.id = self.mapping.get(node.id, node.id)
        return node

    def visit_arg(self, node: ast.arg) -> ast.arg:
        node.arg = self.mapping.get(node.arg, node.arg)
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.FunctionDef:
        node.name = self.mapping.get(node.name, node.name)
        self.generic_visit(node)
        return node


def _locals(fn: ast.FunctionDef) -> set[str]:
    names = set()
    for n in ast.walk(fn):
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
            names.add(n.id)
        elif isinstance(n, (ast.FunctionDef, ast.Lambda)) and n is not fn:
            names |= {a.arg for a in ast.walk(n.args) if isinstance(a, ast.arg)}
            if isinstance(n, ast.FunctionDef):
                names.add(n.name)
    return names


def disguise(source: str) -> str:
    tree = ast.parse(source)
    private = {n.name: f"_helper_{i}" for i, n in enumerate(tree.body)
               if isinstance(n, ast.FunctionDef) and n.name.startswith("_")}
    _Rename(private).visit(tree)
    for fn in [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]:
        for sub in [fn] + [m for m in fn.body if isinstance(m, ast.FunctionDef)] if isinstance(fn, ast.ClassDef) \
                else [fn]:
            if isinstance(sub, ast.FunctionDef):
                params = {a.arg for a in ast.walk(sub.args) if isinstance(a, ast.arg)}
                mapping = {name: f"renamed_{i}" for i, name in enumerate(sorted(_locals(sub) - {"self", "cls"}))}
                mapping = {k: v for k, v in mapping.items() if k not in params}  # keyword calls still work
                body = sub.body
                _Rename(mapping).visit(ast.Module(body=body, type_ignores=[]))
                _Rename(mapping).visit(sub.args)
    defs = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
    rest = [n for n in tree.body if not isinstance(n, (ast.FunctionDef, ast.ClassDef))]
    tree.body = rest + defs[::-1]
    out = []
    for i, line in enumerate(ast.unparse(tree).splitlines()):
        out.append(line)
        if line.rstrip().endswith(":") and not line.lstrip().startswith(("'", '"')):
            indent = len(line) - len(line.lstrip()) + 4
            out.append(" " * indent + f"# my own step {i}: worked this out from the statement")
    return "# written from scratch for the interview\n" + "\n".join(out) + "\n"
