"""Fixtures of the project's own suite: hidden and visible suites run once per session, in subprocesses."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from grader import outcomes
from grader.questions import PROJECT_ROOT, existing

sys.path.insert(0, str(Path(__file__).parent))  # --import-mode=importlib: make qa/support.py importable
from support import QUESTIONS, by_question, run_pytest  # noqa: E402

@pytest.fixture(scope="session")
def hidden_on_references(tmp_path_factory) -> dict[str, list[outcomes.Outcome]]:
    results = tmp_path_factory.mktemp("hidden") / "solutions.json"
    return by_question(run_pytest([f"tests/{q}" for q in QUESTIONS], results, "--impl", "solutions"))


@pytest.fixture(scope="session")
def hidden_on_stubs(tmp_path_factory) -> dict[str, list[outcomes.Outcome]]:
    results = tmp_path_factory.mktemp("hidden") / "stubs.json"
    return by_question(run_pytest([f"tests/{q}" for q in QUESTIONS], results, "--impl", "exercises"))


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
def self_checks_on_references(handout_with_references, tmp_path_factory) -> dict[str, list[outcomes.Outcome]]:
    results = tmp_path_factory.mktemp("visible") / "solved.json"
    return by_question(run_pytest(["exercises"], results, cwd=handout_with_references))


@pytest.fixture(scope="session")
def self_checks_on_stubs(tmp_path_factory) -> dict[str, list[outcomes.Outcome]]:
    results = tmp_path_factory.mktemp("visible") / "stubs.json"
    return by_question(run_pytest(["exercises"], results))
