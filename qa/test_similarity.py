"""Similarity (grader/similarity.py, `llmgrade similarity`): copies are flagged through disguises, honest
solutions are not, the stub's text never counts, and 8 submissions x 20 questions stay well under 30 s.

The honest solutions (qa/similarity/honest: q21, q22, q26) were written for this test without looking at
solutions/; each earns 5/5 from the hidden suites (`llmgrade grade qa/similarity/honest --only q21,q22,q26`).
The disguised copy (qa/similarity/disguise.py) renames every local and argument, rewrites the comments,
reformats the code and reverses the order of the functions.
"""
from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

import pytest

from grader import similarity
from grader.cli import main as cli_main
from grader.questions import PROJECT_ROOT, existing

sys.path.insert(0, str(Path(__file__).parent / "similarity"))
from disguise import disguise  # noqa: E402

HONEST = Path(__file__).parent / "similarity" / "honest"
HONEST_QIDS = sorted(p.name for p in HONEST.iterdir() if p.is_dir())
NAMES = ["copy_disguised", "copy_plain", "honest", "stub_a", "stub_b", "mixed", "copy_disguised_2", "stub_c"]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """8 submissions of all 20 questions compared by `llmgrade similarity DIR --json OUT` (timed)."""
    root = tmp_path_factory.mktemp("subs")
    qs = existing()
    for q in qs:
        ref = (PROJECT_ROOT / "solutions" / q.qid / q.filename).read_text(encoding="utf-8")
        stub = (PROJECT_ROOT / "exercises" / q.qid / q.filename).read_text(encoding="utf-8")
        honest = HONEST / q.qid / q.filename
        texts = {"copy_disguised": disguise(ref), "copy_plain": ref, "stub_a": stub, "stub_b": stub, "stub_c": stub,
                 "honest": honest.read_text(encoding="utf-8") if honest.exists() else stub,
                 "mixed": ref if q.number % 2 else stub, "copy_disguised_2": disguise(disguise(ref))}
        for name, text in texts.items():
            (root / name / q.qid).mkdir(parents=True, exist_ok=True)
            (root / name / q.qid / q.filename).write_text(text, encoding="utf-8")
    out = root.parent / "similarity.json"
    t0, c0 = time.perf_counter(), time.process_time()
    assert cli_main(["similarity", str(root), "--json", str(out), "--html", str(root.parent / "sim.html")]) == 0
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    data = json.loads(out.read_text(encoding="utf-8"))
    pairs = {(p["question"], p["a"], p["b"]): p for p in data["pairs"]}
    return {"data": data, "pairs": pairs, "seconds": seconds, "cpu": cpu, "qids": [q.qid for q in qs], "root": root,
            "html": (root.parent / "sim.html").read_text(encoding="utf-8")}


def pair(graded, qid, a, b):
    p = graded["pairs"]
    return p.get((qid, a, b)) or p[(qid, b, a)]


def test_every_pair_per_question_and_each_with_the_references(graded):
    n = len(NAMES) + 1  # and the references
    assert len(graded["data"]["pairs"]) == len(graded["qids"]) * n * (n - 1) // 2
    for p in graded["data"]["pairs"]:
        assert {"question", "a", "b", "similarity", "flagged"} <= set(p) and 0 <= p["similarity"] <= 1
        assert p["a"] != "references"  # the references are always `b`


def test_disguised_copy_of_the_references_is_flagged(graded):
    for qid in graded["qids"]:
        for name in ("copy_disguised", "copy_disguised_2", "copy_plain"):
            p = pair(graded, qid, name, "references")
            assert p["flagged"] and p["similarity"] >= 0.7, (qid, name, p["similarity"])
            assert p["a_lines"] and p["b_lines"]  # the matching regions, for the HTML
        assert pair(graded, qid, "copy_disguised", "copy_plain")["flagged"]
    assert graded["html"].count("<mark>") > 100 and "never a verdict" in graded["html"]


@pytest.mark.parametrize("qid", HONEST_QIDS)
def test_independent_correct_solutions_are_not_flagged(graded, qid):
    for other in ("references", "copy_disguised", "copy_plain"):
        p = pair(graded, qid, "honest", other)
        assert not p["flagged"] and p["similarity"] < similarity.THRESHOLD, (other, p["similarity"])


def test_the_stubs_own_text_never_counts(graded):
    for qid in graded["qids"]:
        for stub in ("stub_a", "stub_b", "stub_c"):
            for other in NAMES + ["references"]:
                if other != stub and (other != "honest" or qid not in HONEST_QIDS) and not (
                        other == "mixed" and int(qid[1:]) % 2):
                    p = pair(graded, qid, stub, other)
                    assert p["similarity"] == 0 and p["matched_tokens"] == 0 and not p["flagged"], (qid, stub, other)


def test_renaming_leaves_the_tokens_unchanged():
    """pygments (through copydetect) turns every name into one token: a renamed copy has the same fingerprints."""
    a = "def f(x, y):\n    total = x + y  # sum\n    return total * total - x\n"
    b = "def other(alpha, beta):\n    # a new comment\n    acc = alpha + beta\n    return acc * acc - alpha\n"
    fa, fb = similarity.fingerprint(a, "a.py"), similarity.fingerprint(b, "b.py")
    assert fa.filtered_code == fb.filtered_code and fa.hashes == fb.hashes


def test_eight_submissions_by_twenty_questions_under_30_seconds(graded):
    """CPU time of this process (one core): the wall time follows it on a quiet machine, not on a shared one.
    8 all-different submissions (no text tokenised twice) took 13 s of CPU here (README, Similarity)."""
    print(f"similarity over {len(NAMES)} submissions x {len(graded['qids'])} questions: {graded['cpu']:.1f}s CPU, "
          f"{graded['seconds']:.1f}s wall")
    assert len(graded["qids"]) == 20 and graded["cpu"] < 30


def test_grade_many_writes_similarity_json_beside_its_summary(graded, tmp_path):
    """grade-many's hook (cli: extras): similarity.json beside summary.html, the flagged pairs highlighted in
    the page, each candidate's own flags and narrative in its details row (reports made up, not graded)."""
    from grader import narrative, summary
    entries = [{"candidate": n, "report": None, "error": "not graded here"} for n in NAMES]
    entries[0]["report"] = {"questions": {}, "score": 0, "max_score": 0, "integrity": []}
    section, flags = similarity.batch_sections(graded["root"], tmp_path, entries, ["q21", "q22"])
    data = json.loads((tmp_path / "similarity.json").read_text(encoding="utf-8"))
    assert {p["question"] for p in data["pairs"]} == {"q21", "q22"} and len(data["pairs"]) == 2 * 36
    assert "copy_disguised" in flags and "stub_a" not in flags
    per = narrative.summary_sections(entries)
    for name, secs in flags.items():
        per.setdefault(name, []).extend(secs)
    summary.write_summary(tmp_path, entries, sections=[section], per_candidate=per)
    page = (tmp_path / "summary.html").read_text(encoding="utf-8")
    assert "<mark>" in page and "Similarity flags" in page and "never a verdict" in page
