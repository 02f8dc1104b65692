"""Helpers shared by the project's own suite (importable from qa tests as `support`)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from grader import junit
from grader.questions import PROJECT_ROOT, existing

QUESTIONS = [q.qid for q in existing()]


def run_pytest(targets: list[str], xml: Path, *extra: str, cwd: Path = PROJECT_ROOT) -> list[junit.Outcome]:
    cmd = [sys.executable, "-m", "pytest", *targets, "-q", "-p", "no:cacheprovider", f"--junitxml={xml}",
           "-o", "junit_family=xunit1", *extra]
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if not xml.exists():
        pytest.fail(f"pytest produced no results: {' '.join(cmd)}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return junit.read(xml)


def by_question(outcomes: list[junit.Outcome]) -> dict[str, list[junit.Outcome]]:
    out: dict[str, list[junit.Outcome]] = {}
    for o in outcomes:
        out.setdefault(o.qid, []).append(o)
    return out
