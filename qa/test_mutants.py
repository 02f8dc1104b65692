"""Every mutant (a plausible wrong implementation) loses points on its question; the kill matrix."""
from __future__ import annotations

import concurrent.futures as cf
from pathlib import Path

import pytest

from support import QUESTIONS
from grader.mutants import catalog, kill

MUTANTS = [m for m in catalog() if m.qid in QUESTIONS]


@pytest.fixture(scope="session")
def kill_matrix(tmp_path_factory) -> dict[str, list]:
    work = tmp_path_factory.mktemp("mutants")
    with cf.ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda m: kill(m, Path(work)), MUTANTS))
    return {m.label: outcomes for m, outcomes in results}


def test_every_question_has_three_mutants():
    counts = {q: sum(m.qid == q for m in MUTANTS) for q in QUESTIONS}
    few = {q: n for q, n in counts.items() if n < 3}
    assert not few, f"questions with fewer than three mutants: {few}"


@pytest.mark.parametrize("label", [m.label for m in MUTANTS])
def test_mutant_is_killed(kill_matrix, label):
    outcomes = kill_matrix[label]
    assert outcomes, f"{label}: the hidden suite did not run"
    failed = [o for o in outcomes if o.status in ("failed", "error")]
    assert failed, f"{label} survived: all {len(outcomes)} hidden tests pass on it"
