"""Every question is complete: a bilingual statement naming every function of its stub, hints in
three tiers in both languages, a self-check, a reference with the same API, a hidden suite."""
from __future__ import annotations

import ast
import re
import tomllib

import pytest

from support import QUESTIONS
from grader.questions import PROJECT_ROOT, get

CJK = re.compile(r"[\u4e00-\u9fff]")


def public_names(path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and not n.name.startswith("_")}


@pytest.mark.parametrize("qid", QUESTIONS)
def test_statement_is_bilingual_and_names_every_function(qid):
    q = get(qid)
    text = (PROJECT_ROOT / "exercises" / qid / "README.md").read_text(encoding="utf-8")
    assert len(CJK.findall(text)) > 40, f"{qid}/README.md has little or no 中文"
    assert "English" in text and len(re.findall(r"[A-Za-z]{4,}", text)) > 80, f"{qid}/README.md lacks English"
    missing = [n for n in public_names(PROJECT_ROOT / "exercises" / qid / q.filename) if f"`{n}" not in text]
    assert not missing, f"{qid}/README.md does not name {missing}"


@pytest.mark.parametrize("qid", QUESTIONS)
def test_reference_has_the_stub_api(qid):
    q = get(qid)
    stub = public_names(PROJECT_ROOT / "exercises" / qid / q.filename)
    ref = public_names(PROJECT_ROOT / "solutions" / qid / q.filename)
    assert stub <= ref, f"the reference lacks {stub - ref}"


@pytest.mark.parametrize("qid", QUESTIONS)
def test_hints_in_three_tiers_both_languages(qid):
    path = PROJECT_ROOT / "grader" / "hints" / f"{qid}.toml"
    tiers = tomllib.loads(path.read_text(encoding="utf-8"))["hint"]
    assert len(tiers) >= 3, f"{qid} has {len(tiers)} hint tiers"
    for t in tiers:
        assert t["en"].strip() and t["zh"].strip(), f"{qid} hint lacks a language: {t}"
    assert all(CJK.search(t["zh"]) for t in tiers[:2]), f"{qid}: the first two tiers need 中文 text"


@pytest.mark.parametrize("qid", QUESTIONS)
def test_every_part_exists(qid):
    q = get(qid)
    assert list((PROJECT_ROOT / "exercises" / qid).glob("test_*.py")), "no self-check"
    assert list((PROJECT_ROOT / "tests" / qid).glob("test_*.py")), "no hidden suite"
    assert (PROJECT_ROOT / "mutants" / f"{qid}.toml").exists(), "no mutants"
    for name in q.given:
        assert (PROJECT_ROOT / "exercises" / qid / f"{name}.py").exists(), f"given module {name} missing"


def test_candidate_folder_holds_only_the_statement_stub_and_self_check():
    for qid in QUESTIONS:
        q = get(qid)
        allowed = {"README.md", q.filename, f"test_{q.module}.py", "forbidden.toml", *(f"{g}.py" for g in q.given)}
        extra = {p.name for p in (PROJECT_ROOT / "exercises" / qid).iterdir()
                 if p.name not in allowed and p.name != "__pycache__"}
        assert not extra, f"exercises/{qid} holds more than a candidate needs: {sorted(extra)}"
