"""Every question's points follow a rubric (``grader/rubrics/qNN.toml``): named parts, weights summing to
100, every hidden test function in exactly one part, every part holding at least one test, and the
statement telling the candidate what the parts are."""
from __future__ import annotations

import ast

import pytest

from support import QUESTIONS
from grader.questions import PROJECT_ROOT
from grader.rubric import RUBRICS_DIR, rubric, score_parts


def hidden_test_functions(qid: str) -> list[str]:
    names = []
    for path in sorted((PROJECT_ROOT / "tests" / qid).glob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names += [n.name for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")]
    return names


@pytest.mark.parametrize("qid", QUESTIONS)
def test_rubric_exists_and_loads(qid):
    assert (RUBRICS_DIR / f"{qid}.toml").exists(), f"{qid} has no rubric (grader/rubrics/{qid}.toml)"
    rb = rubric(qid)
    assert len(rb.parts) >= 2, f"{qid}: a rubric of one part says nothing about the question"


@pytest.mark.parametrize("qid", QUESTIONS)
def test_every_hidden_test_in_exactly_one_part(qid):
    rb = rubric(qid)
    for name in hidden_test_functions(qid):
        owners = [p.id for p in rb.parts if p.owns(name)]
        assert len(owners) == 1, f"{qid}: {name} belongs to {owners or 'no part'} (it must be exactly one)"
    for p in rb.parts:
        assert any(p.owns(n) for n in hidden_test_functions(qid)), f"{qid}: part {p.id!r} holds no test"


@pytest.mark.parametrize("qid", QUESTIONS)
def test_statement_documents_the_rubric(qid):
    text = (PROJECT_ROOT / "exercises" / qid / "README.md").read_text(encoding="utf-8")
    missing = [p.id for p in rubric(qid).parts if f"`{p.id}`" not in text]
    assert not missing, f"exercises/{qid}/README.md does not name the rubric parts {missing}"


def test_gates_multiply_and_skips_count_as_not_passed(tmp_path, monkeypatch):
    import grader.rubric as r
    (tmp_path / "q99.toml").write_text(
        '[[part]]\nid = "values"\ntitle = "v"\nweight = 60\ntests = ["test_value*"]\n'
        '[[part]]\nid = "errors"\ntitle = "e"\nweight = 40\ntests = ["test_bad*"]\ngate = "values"\n',
        encoding="utf-8")
    monkeypatch.setattr(r, "RUBRICS_DIR", tmp_path)
    r.rubric.cache_clear()
    try:
        nothing = score_parts("q99", 5, [("t.py::test_value[1]", "failed"), ("t.py::test_bad", "passed")])
        assert sum(p["points"] for p in nothing) == 0  # argument errors alone earn nothing
        half = score_parts("q99", 5, [("t.py::test_value[1]", "passed"), ("t.py::test_value[2]", "skipped"),
                                      ("t.py::test_bad", "passed")])
        assert [p["points"] for p in half] == [pytest.approx(1.5), pytest.approx(1.0)]
        assert half[0]["not_measured"] == 1
    finally:
        r.rubric.cache_clear()


@pytest.mark.parametrize("qid", QUESTIONS)
def test_every_part_says_what_it_shows_and_misses(qid):
    """The narrative's phrasing (grader/narrative.py) is declared beside each part: `shows` (all its points)
    and `misses` (fewer); an `[[insight]]` names only parts of the rubric."""
    from grader.narrative import phrasing
    says, insights = phrasing.__wrapped__(qid)
    ids = {p.id for p in rubric(qid).parts}
    lacking = [pid for pid in ids if not (says.get(pid, {}).get("shows") and says.get(pid, {}).get("misses"))]
    assert not lacking, f"grader/rubrics/{qid}.toml: parts {sorted(lacking)} need `shows` and `misses` strings"
    for ins in insights:
        unknown = (set(ins["passed"]) | set(ins["failed"])) - ids
        assert not unknown and ins["passed"] and ins["failed"], f"{qid}: insight {ins} names unknown parts {unknown}"
