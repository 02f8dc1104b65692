"""Every mutant (a plausible wrong implementation) loses points on its question; the kill matrix."""
from __future__ import annotations

from pathlib import Path

import pytest

from support import QUESTIONS
from grader.mutants import catalog, kill_all, lost_share, variants

MUTANTS = [m for m in catalog() if m.qid in QUESTIONS]


@pytest.fixture(scope="session")
def kill_matrix(tmp_path_factory) -> dict[str, list]:
    work = tmp_path_factory.mktemp("mutants")
    return {m.label: outcomes for m, outcomes in kill_all(MUTANTS, Path(work), jobs=2)}


def test_every_question_has_three_mutants():
    counts = {q: sum(m.qid == q for m in MUTANTS) for q in QUESTIONS}
    few = {q: n for q, n in counts.items() if n < 3}
    assert not few, f"questions with fewer than three mutants: {few}"


@pytest.mark.timeout(3600)  # the first test builds the whole kill matrix (a session fixture)
@pytest.mark.parametrize("label", [m.label for m in MUTANTS])
def test_mutant_is_killed(kill_matrix, label):
    outcomes = kill_matrix[label]
    assert outcomes, f"{label}: the hidden suite did not run"
    failed = [o for o in outcomes if o.status in ("failed", "error")]
    assert failed, f"{label} survived: all {len(outcomes)} hidden tests pass on it"
    mutant = next(m for m in MUTANTS if m.label == label)
    lost = lost_share(mutant, outcomes)
    assert lost >= mutant.min_loss - 1e-9, \
        f"{label} loses only {lost:.1%} of its question under the rubric (it must lose {mutant.min_loss:.0%}): " \
        f"caught by {sorted({o.nodeid.split('::')[-1] for o in failed})}"


def test_the_kill_path_passes_unchanged_references(tmp_path):
    """A 'mutant' that changes nothing must survive the same batch path, after real mutants ran in it:
    a kill always comes from a test that rejects the bug, never from the machinery."""
    from grader.mutants import Mutant, kill_batch

    chosen = [q for q in ("q21", "q33", "q38") if q in QUESTIONS]
    real = [m for m in MUTANTS if m.qid == chosen[0]][:2]
    controls = [Mutant(q, "control", "no change", "import torch", "import torch") for q in chosen]
    results = kill_batch(real + controls, tmp_path)
    for m, outcomes in results[len(real):]:
        assert outcomes and all(o.status == "passed" for o in outcomes), \
            f"{m.qid}: the unchanged reference does not pass in the mutant path: " \
            f"{[o.message[:80] for o in outcomes if o.status != 'passed'][:3]}"


VARIANTS = [v for v in variants() if v.qid in QUESTIONS]


@pytest.fixture(scope="session")
def variant_matrix(tmp_path_factory) -> dict[str, list]:
    work = tmp_path_factory.mktemp("variants")
    return {v.label: outcomes for v, outcomes in kill_all(VARIANTS, Path(work), jobs=2)}


@pytest.mark.timeout(3600)
@pytest.mark.parametrize("label", [v.label for v in VARIANTS])
def test_correct_variant_keeps_its_points(variant_matrix, label):
    """A correct implementation with another convention the statement leaves open (a false-fail regression)."""
    outcomes = variant_matrix[label]
    assert outcomes, f"{label}: the hidden suite did not run"
    variant = next(v for v in VARIANTS if v.label == label)
    lost = lost_share(variant, outcomes)
    assert lost <= variant.max_loss + 1e-9, \
        f"{label} is correct but loses {lost:.1%} of its question (at most {variant.max_loss:.0%}): failed " \
        f"{sorted({o.nodeid.split('::')[-1] for o in outcomes if o.status in ('failed', 'error')})}"
