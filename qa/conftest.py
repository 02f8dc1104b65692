"""Fixtures of the project's own suite: hidden and visible suites run once per session, in subprocesses."""
from __future__ import annotations

import shutil
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


@pytest.fixture(scope="session")
def hidden_on_references(tmp_path_factory) -> dict[str, list[junit.Outcome]]:
    xml = tmp_path_factory.mktemp("hidden") / "solutions.xml"
    return by_question(run_pytest([f"tests/{q}" for q in QUESTIONS], xml, "--impl", "solutions"))


@pytest.fixture(scope="session")
def hidden_on_stubs(tmp_path_factory) -> dict[str, list[junit.Outcome]]:
    xml = tmp_path_factory.mktemp("hidden") / "stubs.xml"
    return by_question(run_pytest([f"tests/{q}" for q in QUESTIONS], xml, "--impl", "exercises"))


@pytest.fixture(scope="session")
def handout_with_references(tmp_path_factory) -> Path:
    """A copy of exercises/ with every reference copied over its stub."""
    root = tmp_path_factory.mktemp("solved")
    shutil.copytree(PROJECT_ROOT / "exercises", root / "exercises",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for q in existing():
        shutil.copy2(PROJECT_ROOT / "solutions" / q.qid / q.filename, root / "exercises" / q.qid / q.filename)
    return root


@pytest.fixture(scope="session")
def self_checks_on_references(handout_with_references, tmp_path_factory) -> dict[str, list[junit.Outcome]]:
    xml = tmp_path_factory.mktemp("visible") / "solved.xml"
    return by_question(run_pytest(["exercises"], xml, cwd=handout_with_references))


@pytest.fixture(scope="session")
def self_checks_on_stubs(tmp_path_factory) -> dict[str, list[junit.Outcome]]:
    xml = tmp_path_factory.mktemp("visible") / "stubs.xml"
    return by_question(run_pytest(["exercises"], xml))
