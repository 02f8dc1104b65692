"""Helpers shared by the project's own suite (importable from qa tests as `support`)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from grader import outcomes
from grader.questions import PROJECT_ROOT, existing

QUESTIONS = [q.qid for q in existing()]


def run_pytest(targets: list[str], results: Path, *extra: str, cwd: Path = PROJECT_ROOT) -> list[outcomes.Outcome]:
    """Run pytest with the project's plugin in a subprocess; its outcomes (``grader.outcomes``)."""
    cmd = [sys.executable, "-m", "pytest", *targets, "-q", "-p", "no:cacheprovider", "-p", "grader.plugin",
           "--results", str(results), *extra]
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if not results.exists():
        pytest.fail(f"pytest produced no results: {' '.join(cmd)}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return outcomes.read(results)


def by_question(outcomes: list[outcomes.Outcome]) -> dict[str, list[outcomes.Outcome]]:
    out: dict[str, list[outcomes.Outcome]] = {}
    for o in outcomes:
        out.setdefault(o.qid, []).append(o)
    return out
