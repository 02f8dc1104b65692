"""End to end with real nbgrader: generate_assignment, three students, autograde, the gradebook, feedback.

alice fills in the references, bob hands in the untouched release, carol has one plausible bug (a
mutant) in one question. Scores are read from nbgrader's gradebook database through its API.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from support import QUESTIONS
from grader.mutants import catalog
from grader.questions import PROJECT_ROOT, get

nbgrader_api = pytest.importorskip("nbgrader.api", reason="nbgrader is part of the dev install")

ASSIGNMENT = "llm-internals"
pytestmark = pytest.mark.timeout(1800)  # the module fixture runs nbgrader for three students
# A few questions keep this under a few minutes: a plain one, and one with a timing test when present.
CHOSEN = [q for q in ("q21", "q24", "q33") if q in QUESTIONS]
BUGGY = ("q21", "ignores_past_len")


def nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    proc = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def solution_cell(nb: dict) -> dict:
    return next(c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("solution"))


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    course = tmp_path_factory.mktemp("course")
    subprocess.run([sys.executable, "-m", "grader.cli", "nbgrader-course", str(course), "--only", ",".join(CHOSEN)],
                   check=True, cwd=PROJECT_ROOT, capture_output=True)
    nbgrader(course, "generate_assignment", ASSIGNMENT, "--force")
    mutant = next(m for m in catalog([BUGGY[0]]) if m.name == BUGGY[1])
    for student in ("alice", "bob", "carol"):
        dest = course / "submitted" / student / ASSIGNMENT
        dest.mkdir(parents=True)
        for released in sorted((course / "release" / ASSIGNMENT).glob("*.ipynb")):
            nb = json.loads(released.read_text(encoding="utf-8"))
            source = json.loads((course / "source" / ASSIGNMENT / released.name).read_text(encoding="utf-8"))
            answer = solution_cell(source)["source"]
            if student == "alice":
                solution_cell(nb)["source"] = answer
            elif student == "carol":
                solution_cell(nb)["source"] = answer.replace(mutant.old, mutant.new) \
                    if released.stem == BUGGY[0] else answer
            (dest / released.name).write_text(json.dumps(nb), encoding="utf-8")
    nbgrader(course, "autograde", ASSIGNMENT)
    return course


def scores(course: Path) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    with nbgrader_api.Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for student in ("alice", "bob", "carol"):
            sub = gb.find_submission(ASSIGNMENT, student)
            out[student] = {nb.name: nb.score for nb in sub.notebooks}
            out[student]["total"] = sub.score
    return out


def test_release_hides_solutions_and_hidden_tests(course):
    for released in (course / "release" / ASSIGNMENT).glob("*.ipynb"):
        text = released.read_text(encoding="utf-8")
        assert "BEGIN SOLUTION" not in text and "hidden_tests(" not in text, released.name
        assert "raise NotImplementedError()" in text


def test_three_students_full_zero_partial(course):
    s = scores(course)
    full = sum(get(q).points for q in CHOSEN)
    assert s["alice"]["total"] == pytest.approx(full), s["alice"]
    assert s["bob"]["total"] == 0, s["bob"]
    assert 0 < s["carol"][BUGGY[0]] < get(BUGGY[0]).points, s["carol"]
    assert s["carol"]["total"] == pytest.approx(full - get(BUGGY[0]).points + s["carol"][BUGGY[0]])


def test_feedback_is_written(course):
    nbgrader(course, "generate_feedback", ASSIGNMENT)
    pages = list((course / "feedback").rglob("*.html"))
    assert len(pages) == 3 * len(CHOSEN), pages
    assert "hidden tests" in (course / "feedback" / "carol" / ASSIGNMENT / f"{BUGGY[0]}.html").read_text(encoding="utf-8")


def test_notebooks_grade_through_the_isolated_grader_too(course, tmp_path):
    out = tmp_path / "alice"
    subprocess.run([sys.executable, "-m", "grader.cli", "from-notebooks",
                    str(course / "submitted" / "alice" / ASSIGNMENT), str(out)], check=True, capture_output=True)
    report = tmp_path / "report.json"
    subprocess.run([sys.executable, "-m", "grader.cli", "grade", str(out), "--only", BUGGY[0], "--quiet",
                    "--json", str(report), "--no-timing"], check=True, cwd=PROJECT_ROOT)
    rep = json.loads(report.read_text(encoding="utf-8"))
    assert rep["score"] == rep["max_score"] > 0, rep["questions"][BUGGY[0]]["notes"]
