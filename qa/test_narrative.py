"""The per-candidate narrative (grader/narrative.py): facts pinned, not wording.

Reports are built the way grading.score builds them (the real rubric's score_parts) from one outcome per
hidden test function; the failure messages are the checks' own, as a real grade of the mutant gave them
(mutants/q36.toml fa_full_matrix_then_mask, mutants/q24.toml slow_cache_recomputes_prefix). One real
`llmgrade grade --json` of the untouched q21 stub checks the wiring (about 10 s).
"""
from __future__ import annotations

import ast
import json
import subprocess
import sys

import pytest

from grader import narrative
from grader.questions import PROJECT_ROOT, get
from grader.rubric import score_parts

# the checks' messages, from `llmgrade grade` of the two mutants (first lines; the rest is hints)
Q36_SLOW = ("causal flash_attention against naive attention at B·H·T·D = (1, 2, 4096, 64) is only 0.74x faster "
            "(the trusted slow way 821 ms, yours 1114 ms of CPU time, best of 3 rounds on fresh inputs); it must be "
            "at least 2x faster\n  hint: usually the full T x T score matrix is built (then masked)")
Q36_NO_SKIP = ("causal flash_attention at (1, 2, 4096, 64) against the reference's flash_attention with causal=False "
               "is only 0.55x faster (the trusted slow way 616 ms, yours 1130 ms of CPU time, best of 3 rounds on "
               "fresh inputs); it must be at least 1.15x faster")
Q36_MEMORY = ("flash_attention on q/k/v (1, 4, 4096, 32) float32 failed when it may add about 32 MiB (0.125 of the "
              "256 MiB B·H·T·T matrix) beyond its inputs and output: [enforce fail at alloc_cpu.cpp:127] err == 0. "
              "DefaultCPUAllocator: can't allocate memory: you tried to allocate 268435456 bytes. Error code 12")
Q36_MEMORY_MEASURED = ("flash_attention added 816 MiB at its peak beyond its inputs and output (peak RSS of the "
                       "worker); the full B·H·T·T score matrix is 256 MiB and the limit is 32 MiB")
Q24_SLOW = ("generate_greedy(use_cache=True) (48 new tokens after 192, 4 layers, d_model 128) against a decoder "
            "without a cache is only 0.89x faster (the trusted slow way 3388 ms, yours 3803 ms of CPU time, best of "
            "3 rounds on fresh inputs); it must be at least 3x faster")


def hidden_functions(qid: str) -> list[tuple[str, str]]:
    out = []
    for path in sorted((PROJECT_ROOT / "tests" / qid).glob("test_*.py")):
        for n in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(n, ast.FunctionDef) and n.name.startswith("test_"):
                out.append((f"tests/{qid}/{path.name}::{n.name}[0]", n.name))
    return out


def report(qid: str, failing: dict[str, str], *, stub: str | None = None, integrity=()) -> dict:
    """A report of one question: every hidden test passes except ``failing`` {function: message};
    ``stub``: every test fails with '<fn> is not implemented yet' for these functions (comma-separated)."""
    from grader.rubric import rubric, test_name
    tests = []
    names = stub.split(", ") if stub else []
    for i, (nodeid, fn) in enumerate(hidden_functions(qid)):
        if stub:
            tests.append({"nodeid": nodeid, "status": "failed",
                          "message": f"{names[i % len(names)]} is not implemented yet: {qid}/x.py:1"})
        elif fn in failing:
            tests.append({"nodeid": nodeid, "status": "failed", "message": failing[fn]})
        else:
            tests.append({"nodeid": nodeid, "status": "passed", "message": ""})
    for t in tests:
        t["part"] = rubric(qid).part_of(test_name(t["nodeid"])).id
    q = get(qid)
    parts = score_parts(qid, q.points, [(t["nodeid"], t["status"]) for t in tests])
    entry = {"title": q.title, "points": round(sum(p["points"] for p in parts), 4), "max_points": q.points,
             "passed": sum(t["status"] == "passed" for t in tests), "total": len(tests), "skipped": 0,
             "notes": [], "parts": parts, "tests": tests, "integrity": list(integrity)}
    return {"questions": {qid: entry}, "timing_tests": True}


def kinds(nar: dict, kind: str) -> list[dict]:
    return [s for s in nar["sentences"] if s["kind"] == kind]


def test_full_matrix_q36_knows_the_recurrence_not_the_tiling():
    rep = report("q36", {"test_flash_faster_than_naive": Q36_SLOW,
                         "test_causal_skips_tiles_above_the_diagonal": Q36_NO_SKIP,
                         "test_flash_memory_far_below_full_matrix": Q36_MEMORY})
    nar = narrative.build(rep)["q36"]
    strengths = {s["part"] for s in kinds(nar, "strength")}
    assert {"online_softmax", "flash_values", "online_stable", "trains"} <= strengths
    gaps = {s["part"]: s for s in kinds(nar, "gap")}
    assert set(gaps) == {"faster_than_naive", "skips_tiles", "memory"}
    assert "0.74x" in gaps["faster_than_naive"]["text"] and "2x" in gaps["faster_than_naive"]["text"]
    assert "256 MiB" in gaps["memory"]["text"] and "32 MiB" in gaps["memory"]["text"]
    # traceable: each gap names the failing test behind it, each strength the tests it rests on
    assert gaps["memory"]["failed"] == ["tests/q36/test_flash_attention.py::test_flash_memory_far_below_full_matrix[0]"]
    assert "test_flash_matches_reference" in next(s for s in nar["sentences"] if s["part"] == "flash_values")["tests"]
    insight = kinds(nar, "insight")
    assert len(insight) == 1 and "recurrence" in insight[0]["text"]
    assert set(insight[0]["tests"]) >= {"test_flash_memory_far_below_full_matrix", "test_online_softmax_matches_reference"}
    # strengths first, then gaps, then the verdict
    order = [s["kind"] for s in nar["sentences"]]
    assert order == sorted(order, key=narrative.KINDS.index)
    line = nar["line"]
    assert line.startswith("Q36 (2.75/5): ")
    assert line.index(next(iter(kinds(nar, "strength")))["text"]) < line.index(gaps["memory"]["text"])
    assert narrative.evidence(Q36_MEMORY_MEASURED) == "memory 816 MiB against a 32 MiB bound"


def test_no_cache_q24_correct_tokens_but_no_saving():
    nar = narrative.build(report("q24", {"test_cache_is_faster": Q24_SLOW}))["q24"]
    assert {s["part"] for s in kinds(nar, "strength")} == {"tokens", "cached_equals_uncached", "decode_flops", "arguments"}
    (gap,) = kinds(nar, "gap")
    assert gap["part"] == "cache_is_fast" and "0.89x" in gap["text"] and "3x" in gap["text"]
    assert gap["failed"] == ["tests/q24/test_kv_generate.py::test_cache_is_faster[0]"]
    assert len(kinds(nar, "insight")) == 1
    assert nar["line"].startswith("Q24 (2.75/5): ")


@pytest.mark.parametrize("qid", ["q24", "q36"])
def test_references_have_only_strengths(qid):
    nar = narrative.build(report(qid, {}))[qid]
    assert {s["kind"] for s in nar["sentences"]} == {"strength"}
    assert len(nar["sentences"]) == len(report(qid, {})["questions"][qid]["parts"])
    assert nar["line"].startswith(f"{qid.upper()} (5/5): ")


def test_untouched_stub_is_one_sentence_not_attempted():
    nar = narrative.build(report("q36", {}, stub="online_softmax, flash_attention"))["q36"]
    (only,) = nar["sentences"]
    assert only["kind"] == "not_attempted" and "online_softmax" in only["text"] and "flash_attention" in only["text"]
    assert len(only["failed"]) == 10 and nar["line"].startswith("Q36 (0/5): ")


def test_gated_part_and_integrity_notes_come_last():
    flag = {"kind": "threads", "what": "threads, processes or CPU affinity", "line": 7, "detail": "import threading"}
    rep = report("q36", {"test_flash_matches_reference": "flash_attention differs from the reference by 0.3"},
                 integrity=[flag])
    nar = narrative.build(rep)["q36"]
    gated = {s["part"] for s in kinds(nar, "gated")}
    assert {"faster_than_naive", "memory", "skips_tiles"} <= gated  # their tests pass, but values are wrong
    assert [s["part"] for s in kinds(nar, "gap")] == ["flash_values"]
    assert nar["sentences"][-1]["kind"] == "integrity" and nar["sentences"][-1]["flag"] == flag
    assert nar["line"].endswith(nar["sentences"][-1]["text"]) and "line 7" in nar["line"]


def test_grade_json_and_terminal_carry_the_narrative(tmp_path):
    out = tmp_path / "r.json"
    proc = subprocess.run([sys.executable, "-m", "grader.cli", "grade", "exercises", "--only", "q21", "--no-timing",
                           "--json", str(out)], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rep = json.loads(out.read_text(encoding="utf-8"))
    (s,) = rep["narrative"]["q21"]["sentences"]
    assert s["kind"] == "not_attempted" and "causal_mask" in s["text"] and s["failed"]
    assert s["failure_kinds"] == ["not_implemented"]  # the plugin's kind of each failure (grader.outcomes)
    assert rep["narrative"]["q21"]["line"] in proc.stdout
    assert narrative.lines(rep) == [rep["narrative"]["q21"]["line"]]


def test_a_wrong_value_is_said_once_not_as_every_part_it_breaks():
    """Q26 with a wrong batch norm (mutant bn_unbiased_variance): the no-library, argument and gradient tests
    fail only because they check batch_norm's value first; the narrative must not say 'calls a library norm'."""
    off = "batch_norm(x (4, 3, 5)) is off: max abs error 0.0586 at index (3, 2, 1): got -2.25, expected -2.19"
    rep = report("q26", {"test_batch_norm_matches_torch": off.replace("))", ")) against torch.nn.BatchNorm"),
                         "test_no_library_norms": off, "test_grad_batch_norm": off})
    nar = narrative.build(rep)["q26"]
    assert [s["part"] for s in kinds(nar, "gap")] == ["batch_norm"]
    consequences = {s["part"]: s for s in kinds(nar, "gated")}
    assert {"no_library"} <= set(consequences) and "batch_norm" in consequences["no_library"]["text"]
    assert "library" not in nar["line"].replace("no_library", "")


def test_a_missing_module_is_one_sentence():
    rep = report("q22", {}, stub=None)
    for t in rep["questions"]["q22"]["tests"]:
        t.update(status="failed", message="cand/q22/attention.py is missing")
    for p in rep["questions"]["q22"]["parts"]:
        p.update(points=0.0, share=0.0, passed=0)
    (only,) = narrative.build(rep)["q22"]["sentences"]
    assert "is missing" in only["text"] and only["failed"]


def test_gradescope_output_carries_the_narrative_hidden_from_the_candidate():
    from grader.grading import gradescope_results
    rep = report("q24", {"test_cache_is_faster": Q24_SLOW})
    rep.update(score=2.75, isolation="test")
    (entry,) = [t for t in gradescope_results(rep)["tests"] if t.get("visibility") == "hidden"]
    assert entry["max_score"] == 0 and entry["output"] == narrative.build(rep)["q24"]["line"]
