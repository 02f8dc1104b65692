"""The CLI as users run it: grade, grade-many, release, progress, hint."""
from __future__ import annotations

import ast
import json
import re
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from support import QUESTIONS
from grader.questions import PROJECT_ROOT, get

# each test starts llmgrade (and most a sandbox): minutes, not seconds, on a loaded 2-core machine
pytestmark = pytest.mark.timeout(600)


def llmgrade(*args: str, cwd: Path = PROJECT_ROOT, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "grader.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=900)
    if check:
        assert proc.returncode == 0, f"llmgrade {' '.join(args)}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def handout(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("release") / "handout"
    llmgrade("release", str(out))
    return out


def test_grade_stubs_gives_zero_with_one_line_per_question(tmp_path):
    report = tmp_path / "r.json"
    proc = llmgrade("grade", "exercises", "--no-timing", "--json", str(report))
    rep = json.loads(report.read_text(encoding="utf-8"))
    assert rep["score"] == 0 and rep["max_score"] > 0
    for qid, q in rep["questions"].items():
        assert q["notes"] and len(q["notes"]) == 1 and q["notes"][0].startswith("not implemented yet"), (qid, q["notes"])
    assert "not implemented yet" in proc.stdout


def test_gradescope_and_junit_outputs(tmp_path):
    gs, xml = tmp_path / "results.json", tmp_path / "junit.xml"
    llmgrade("grade", "solutions", "--only", "q21", "--quiet", "--gradescope", str(gs), "--junit", str(xml))
    data = json.loads(gs.read_text(encoding="utf-8"))
    assert data["score"] == get("q21").points
    parts = [t for t in data["tests"] if t["name"].startswith("q21 ")]
    assert len(parts) >= 2, "one Gradescope test per rubric part"  # grader/rubrics/q21.toml
    assert sum(t["max_score"] for t in parts) == pytest.approx(get("q21").points)
    assert all(t["score"] == t["max_score"] for t in parts)
    assert xml.read_text(encoding="utf-8").count("<testcase") > 10


def test_grade_reports_missing_submission_as_a_grading_error(tmp_path):
    proc = llmgrade("grade", str(tmp_path / "nope"), check=False)
    assert proc.returncode == 2 and "cannot grade" in proc.stderr


def _function_bodies(path: Path) -> dict[str, str]:
    """Normalised source of every function body (docstring dropped) in a Python file."""
    out = {}
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body[1:] if (node.body and isinstance(node.body[0], ast.Expr)
                                     and isinstance(getattr(node.body[0], "value", None), ast.Constant)) else node.body
            if len(body) >= 2 or (body and not isinstance(body[0], ast.Raise)):
                out[node.name] = "\n".join(ast.unparse(b) for b in body)
    return out


def test_release_contains_no_reference_code_and_no_hidden_tests(handout):
    files = [p for p in handout.rglob("*") if p.is_file()]
    top = {p.relative_to(handout).parts[0] for p in files}
    assert top <= {"exercises", "grader", "notebooks", "scripts", "pyproject.toml", "README.md", ".gitignore"}, top
    secret_files = [p for d in ("solutions", "tests", "mutants", "qa") for p in (PROJECT_ROOT / d).rglob("*.py")]
    secret_texts = {p.read_bytes() for p in secret_files}
    copied = [p for p in files if p.read_bytes() in secret_texts]
    assert not copied, f"files of solutions/tests/mutants/qa copied into the handout: {copied}"
    handout_bodies = {body for p in files if p.suffix == ".py" for body in _function_bodies(p).values()}
    notebook_code = {p.stem: "\n\n".join("".join(c["source"]) for c in json.loads(p.read_text(encoding="utf-8"))["cells"]
                                         if c["cell_type"] == "code") for p in files if p.suffix == ".ipynb"}
    assert sorted(notebook_code) == sorted(QUESTIONS), sorted(notebook_code)
    for qid, code in notebook_code.items():  # the notebooks' cells, read as one Python file each
        (tmp := handout.parent / f"{qid}_cells.py").write_text(code, encoding="utf-8")
        handout_bodies |= set(_function_bodies(tmp).values())
        assert "BEGIN SOLUTION" not in code and "HIDDEN TESTS" not in code, qid
    for qid in QUESTIONS:
        ref_path = PROJECT_ROOT / "solutions" / qid / get(qid).filename
        ref = _function_bodies(ref_path)
        leaked = [name for name, body in ref.items() if body in handout_bodies]
        assert not leaked, f"{qid}: reference function bodies found in the handout: {leaked}"
        stub = (PROJECT_ROOT / "exercises" / qid / get(qid).filename).read_text(encoding="utf-8")
        helpers = [n.name for n in ast.parse(ref_path.read_text(encoding="utf-8")).body
                   if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name not in stub]
        shown = [h for h in helpers if re.search(rf"\b{h}\b", notebook_code[qid])]
        assert not shown, f"{qid}: the notebook names the reference's helpers {shown}"


def test_handout_grader_refuses_to_grade_politely(handout):
    proc = subprocess.run([sys.executable, "-m", "grader.cli", "grade"], cwd=handout, capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(handout)))
    assert proc.returncode == 2 and "not" in proc.stderr.lower()


def test_progress_and_hints():
    proc = llmgrade("progress")
    assert "Progress [" in proc.stdout and "Next:" in proc.stdout
    assert "not started" in proc.stdout
    proc = llmgrade("hint", "q21", "3")
    assert "[3]" in proc.stdout and "past_len" in proc.stdout


def test_progress_moves_when_a_question_is_solved(handout, tmp_path):
    work = tmp_path / "h"
    shutil.copytree(handout, work)
    q = get("q21")
    shutil.copy2(PROJECT_ROOT / "solutions" / "q21" / q.filename, work / "exercises" / "q21" / q.filename)
    proc = subprocess.run([sys.executable, "-m", "grader.cli", "progress"], cwd=work, capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(work)))
    assert proc.returncode == 0, proc.stderr
    line = next(ln for ln in proc.stdout.splitlines() if " q21 " in ln)
    assert "passing" in line, proc.stdout


def test_grade_many_summarises_every_candidate(tmp_path):
    subs = tmp_path / "subs"
    shutil.copytree(PROJECT_ROOT / "solutions" / "q21", subs / "alice" / "q21")
    shutil.copytree(PROJECT_ROOT / "exercises" / "q21", subs / "bob" / "q21")
    out = tmp_path / "grades"
    proc = subprocess.run([sys.executable, "-m", "grader.cli", "grade-many", str(subs), "-j", "2", "--out", str(out),
                           "--no-timing", "--only", "q21"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr
    csv_text = (out / "summary.csv").read_text(encoding="utf-8")
    rows = {ln.split(",")[0]: ln for ln in csv_text.splitlines()[1:]}
    assert set(rows) == {"alice", "bob"}
    assert (out / "summary.html").exists()
    alice = json.loads((out / "reports" / "alice.json").read_text(encoding="utf-8"))
    assert alice["questions"]["q21"]["points"] == get("q21").points


def test_handout_notebook_runs_top_to_bottom_in_the_handout(handout, tmp_path):
    """notebooks/q22.ipynb, untouched, run by the handout's own grader (not the project's): the self-check
    says what is not implemented yet, in the answer cell; nothing needs the references or hidden tests."""
    pytest.importorskip("nbconvert")
    out = tmp_path / "q22_run.ipynb"
    env = dict(os.environ, PYTHONPATH=str(handout),
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute", "q22.ipynb",
                    "--output", str(out)], cwd=handout / "notebooks", env=env, check=True, capture_output=True,
                   timeout=300)
    cells = {c["id"]: "".join("".join(o.get("text", "")) for o in c.get("outputs", []))
             for c in json.loads(out.read_text(encoding="utf-8"))["cells"]}
    assert "scaled_dot_product_attention is not implemented yet: cell In[" in cells["q22_self_check"]
    assert "0/6 checks pass" in cells["q22_self_check"], cells["q22_self_check"]
    assert "run when your interviewer grades" in cells["q22_hidden_tests"]


# Run inside the handout with the project itself NOT importable: the project's venv has it installed
# editable, and setuptools' editable finder would otherwise serve any grader module the handout lacks.
_WITHOUT_PROJECT = """
import sys
sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in (getattr(f, "__module__", "") or "").lower()
                    and "editable" not in repr(f).lower()]
sys.path[:] = [p for p in sys.path if p.rstrip("/") != {root!r}]
import pytest
sys.exit(pytest.main(sys.argv[1:]))
"""


def test_handout_self_checks_need_nothing_the_handout_lacks(handout, tmp_path):
    """Every self-check of the handout, with references copied over the stubs (so the timing self-checks
    run too), passes using only the handout's own grader files (a module left behind by `llmgrade release`
    broke every `pytest exercises/qNN` or the timing self-checks before)."""
    work = tmp_path / "h"
    shutil.copytree(handout, work)
    for qid in QUESTIONS:
        q = get(qid)
        shutil.copy2(PROJECT_ROOT / "solutions" / qid / q.filename, work / "exercises" / qid / q.filename)
    script = tmp_path / "run.py"
    script.write_text(_WITHOUT_PROJECT.format(root=str(PROJECT_ROOT)), encoding="utf-8")
    proc = subprocess.run([sys.executable, str(script), "exercises", "-q", "-p", "no:cacheprovider"], cwd=work,
                          capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(work)), timeout=600)
    assert proc.returncode == 0 and "INTERNALERROR" not in proc.stdout, proc.stdout[-3000:] + proc.stderr[-2000:]
