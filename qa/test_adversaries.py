"""Doing nothing earns nothing: submissions written from the stubs (``qa/adversaries.py``) that raise a
ValueError naming every argument, return zeros, return NaN, or echo their first argument, graded by the
real scoring path (in-process, timing tests left out: a do-nothing answer fails them anyway)."""
from __future__ import annotations

import pytest

from support import QUESTIONS
from adversaries import write
import concurrent.futures as cf
import json
import subprocess
import sys

pytestmark = pytest.mark.timeout(900)

# The most a do-nothing submission may earn: per question, and in all (of 100).
LIMITS = {"raise": (0.05, 1.0), "constant": (0.0, 0.0), "nan": (0.0, 0.0), "echo": (0.0, 0.0)}


def _grade(kind: str, folder) -> dict:
    report = folder.parent / f"{kind}.json"
    cmd = [sys.executable, "-m", "grader.cli", "grade", str(folder), "--no-isolate", "--no-timing", "--quiet",
           "--only", ",".join(QUESTIONS), "--json", str(report)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert report.exists(), f"{' '.join(cmd)} wrote no report:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    return json.loads(report.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    folders = {kind: write(kind, tmp_path_factory.mktemp(f"adv_{kind}") / "exercises") for kind in LIMITS}
    with cf.ThreadPoolExecutor(2) as pool:  # two cores: two gradings at a time
        return dict(zip(folders, pool.map(lambda kv: _grade(*kv), folders.items())))


@pytest.mark.parametrize("kind", list(LIMITS))
def test_doing_nothing_earns_nothing(reports, kind):
    per_question, total = LIMITS[kind]
    rep = reports[kind]
    earned = {qid: q["points"] for qid, q in rep["questions"].items() if q["points"] > per_question + 1e-9}
    detail = {qid: [f"{p['id']} {p['points']:.2f}" for p in rep["questions"][qid]["parts"] if p["points"] > 0]
              for qid in earned}
    assert not earned, f"an always-{kind} submission earns points: {earned}; by part: {detail}"
    assert rep["score"] <= total + 1e-9, f"an always-{kind} submission scores {rep['score']:.2f}/100"
