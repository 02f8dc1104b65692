"""End to end with real nbgrader: generate_assignment, three realistic students, both grading paths.

alice edits the released notebooks as a candidate would: each `raise NotImplementedError()` inside a
function becomes the reference's body, the reference's helpers written beside the function that needs
them; bob hands in the untouched release; carol is alice with one plausible bug (a mutant) in q21.
Each is graded by `nbgrader autograde` (in the kernel) and by `llmgrade nbgrader-grade` (the isolated
worker); scores are read from nbgrader's gradebook and must agree, question by question.
Two questions keep this cheap: q21 (the mutant) and q23 (a class whose reference has helper methods);
bob and carol hand in q21 only (a missing notebook is 0 in both paths).
"""
from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from grader.mutants import catalog
from grader.questions import PROJECT_ROOT, get

nbgrader_api = pytest.importorskip("nbgrader.api", reason="nbgrader is part of the dev install")
nbformat = pytest.importorskip("nbformat")

ASSIGNMENT = "llm-internals"
pytestmark = pytest.mark.timeout(900)
CHOSEN = ("q21", "q23")
BUGGY = ("q21", "ignores_past_len")
STUDENTS = ("alice", "bob", "carol")


def run(course: Path, *args: str) -> str:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    proc = subprocess.run([sys.executable, "-m", *args], cwd=course, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, f"{' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout + proc.stderr


def answer(nb: dict) -> dict:
    return next(c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("solution"))


def _body(fn) -> list:
    b = fn.body
    return b[1:] if b and isinstance(b[0], ast.Expr) and isinstance(getattr(b[0], "value", None), ast.Constant) else b


def candidate_fills_in(released: str, qid: str) -> str:
    """Replace each stubbed body by the reference's, helpers beside the function (as a candidate would)."""
    ref_text = (PROJECT_ROOT / "solutions" / qid / get(qid).filename).read_text(encoding="utf-8")
    ref, ref_lines = ast.parse(ref_text), ref_text.splitlines()
    lines = released.split("\n")
    tree = ast.parse(released)
    have = {ast.unparse(n) for n in tree.body}
    names = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    seg = lambda n, indent: [indent + ln if ln.strip() else "" for ln in  # noqa: E731
                             textwrap.dedent("\n".join(ref_lines[(n.decorator_list[0].lineno if getattr(n, "decorator_list", None) else n.lineno) - 1:n.end_lineno])).split("\n")]
    ref_top = {getattr(n, "name", None): n for n in ref.body}
    edits = []  # (line index to replace from, to, new lines)
    helpers_before: dict[int, list[str]] = {}
    extras = [n for n in ref.body if ast.unparse(n) not in have and getattr(n, "name", None) not in names
              and not (isinstance(n, ast.Expr))]
    for node in tree.body:
        fns = [(node, ref_top.get(getattr(node, "name", None)))]
        if isinstance(node, ast.ClassDef):
            r_cls = ref_top[node.name]
            members = {getattr(m, "name", None) for m in node.body}
            r_members = {m.name: m for m in r_cls.body if isinstance(m, ast.FunctionDef)}
            fns = [(m, r_members.get(m.name)) for m in node.body if isinstance(m, ast.FunctionDef)]
            missing = [m for m in r_cls.body if isinstance(m, ast.FunctionDef) and m.name not in members]
            first = next(m for m in node.body if isinstance(m, ast.FunctionDef))
            at = (first.decorator_list[0].lineno if first.decorator_list else first.lineno) - 1
            helpers_before.setdefault(at, []).extend(ln for m in missing for ln in seg(m, " " * first.col_offset) + [""])
        for fn, r_fn in fns:
            if not isinstance(fn, ast.FunctionDef) or r_fn is None:
                continue
            body = _body(fn)
            if len(body) == 1 and isinstance(body[0], ast.Raise):
                start = body[0].lineno - 1
                if lines[start - 1].strip() == "# YOUR CODE HERE":
                    start -= 1
                indent = " " * body[0].col_offset
                edits.append((start, body[0].end_lineno, [ln for n in _body(r_fn) for ln in seg(n, indent)]))
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and extras:
            at = (node.decorator_list[0].lineno if node.decorator_list else node.lineno) - 1
            helpers_before.setdefault(at, []).extend(ln for n in extras for ln in seg(n, "") + [""])
            extras = []  # a candidate writes their helpers once, before the first function
    for at, new in helpers_before.items():
        edits.append((at, at, new))
    for start, end, new in sorted(edits, reverse=True):
        lines[start:end] = new
    return "\n".join(lines)


def scores(course: Path) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    with nbgrader_api.Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for student in STUDENTS:
            sub = gb.find_submission(ASSIGNMENT, student)
            out[student] = {nb.name: nb.score for nb in sub.notebooks}
    return out


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> dict:
    course = tmp_path_factory.mktemp("course")
    run(PROJECT_ROOT, "grader.cli", "nbgrader-course", str(course), "--only", ",".join(CHOSEN))
    logs = {"generate": run(course, "nbgrader", "generate_assignment", ASSIGNMENT, "--force")}
    mutant = next(m for m in catalog([BUGGY[0]]) if m.name == BUGGY[1])
    for student in STUDENTS:
        dest = course / "submitted" / student / ASSIGNMENT
        dest.mkdir(parents=True)
        for released in sorted((course / "release" / ASSIGNMENT).glob("*.ipynb")):
            if student != "alice" and released.stem != BUGGY[0]:
                continue
            nb = json.loads(released.read_text(encoding="utf-8"))
            cell = answer(nb)
            if student != "bob":
                cell["source"] = candidate_fills_in("".join(cell["source"]), released.stem)
            if student == "carol" and released.stem == BUGGY[0]:
                assert mutant.old in cell["source"]
                cell["source"] = cell["source"].replace(mutant.old, mutant.new)
            (dest / released.name).write_text(json.dumps(nb), encoding="utf-8")
    logs["kernel"] = run(course, "nbgrader", "autograde", ASSIGNMENT)
    in_kernel = scores(course)
    logs["feedback"] = run(course, "nbgrader", "generate_feedback", ASSIGNMENT)
    kernel_feedback = (course / "feedback" / "carol" / ASSIGNMENT / f"{BUGGY[0]}.html").read_text(encoding="utf-8")
    logs["isolated"] = run(PROJECT_ROOT, "grader.cli", "nbgrader-grade", str(course), "--assignment", ASSIGNMENT)
    return {"dir": course, "kernel": in_kernel, "isolated": scores(course), "logs": logs,
            "kernel_feedback": kernel_feedback}


def test_released_notebooks_stub_only_function_bodies(course):
    for released in sorted((course["dir"] / "release" / ASSIGNMENT).glob("*.ipynb")):
        nb = nbformat.read(released, as_version=4)
        nbformat.validate(nb)  # cell ids included
        code = answer(nb)["source"]
        tree = ast.parse(code)
        assert not [n for n in tree.body if isinstance(n, ast.Raise)], f"{released.name}: a module-level raise"
        assert "BEGIN SOLUTION" not in code and "raise NotImplementedError()" in code
        # the same notebook as the handout's notebooks/qNN.ipynb
        from grader.nbcourse import released_notebook
        mine = released_notebook(get(released.stem))
        assert [c["source"] for c in mine["cells"]] == ["".join(c["source"]) for c in nb["cells"]], released.name


def test_full_zero_partial_same_in_kernel_and_isolated(course):
    for path in ("kernel", "isolated"):
        s = course[path]
        for qid in CHOSEN:
            assert s["alice"][qid] == pytest.approx(get(qid).points), (path, s["alice"])
            assert s["bob"].get(qid, 0) == 0, (path, s["bob"])
        assert 0 < s["carol"][BUGGY[0]] < get(BUGGY[0]).points, (path, s["carol"])
    assert course["kernel"] == course["isolated"]


def test_no_warnings_that_are_not_the_users_business(course):
    for step in ("generate", "kernel", "isolated"):
        log = course["logs"][step]
        for noise in ("checksum", "SAWarning", "without encryption", "MissingIDFieldWarning"):
            assert noise not in log, f"{step}: {noise!r} in\n{log[-3000:]}"


def test_feedback_names_the_lost_part(course):
    run(course["dir"], "nbgrader", "generate_feedback", ASSIGNMENT, "--force")
    pages = list((course["dir"] / "feedback").rglob("*.html"))
    assert len(pages) == len(CHOSEN) + 2, pages
    isolated = (course["dir"] / "feedback" / "carol" / ASSIGNMENT / f"{BUGGY[0]}.html").read_text(encoding="utf-8")
    for page, how in ((course["kernel_feedback"], "in this kernel"), (isolated, "isolated worker")):
        assert how in page
        lost = [line for line in page.splitlines() if "✘ part" in line]
        assert lost, page[-2000:]
