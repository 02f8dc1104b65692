"""One verdict, whatever the mode: in-process and isolated grading give the same per-test outcomes.

Both providers apply the same rules (``grader.loading.call_on_copies``: private copies of the arguments,
an argument changed in value fails the call; errors as the same builtins; the same checks on this side).
This suite proves it on the references, the stubs, every mutant of a representative set of questions
(callbacks: q20; masks and the attacks: q21; an in-place edit mutant: q28; plain functions: q32), a set of
attacks from ``qa/attacks`` that are safe to run in this process, and the ``x.add_(0)`` case (an in-place
operation that changes no value: in-process it passed and isolated it failed, 5/5 against 3.09/5).

Every submission is a folder holding several questions (the k-th mutant of each question sits in layer
k), graded with ``pytest tests/qNN --impl FOLDER -m "not timing"`` with and without ``--isolate``, in two
batch processes that each import torch and pytest once (``python qa/test_parity.py --batch SPEC``).
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grader import outcomes
from grader.mutants import catalog
from grader.questions import PROJECT_ROOT, all_questions

QIDS = ["q20", "q21", "q28", "q32"]
ATTACKS = Path(__file__).resolve().parent / "attacks"
# attacks whose effect is a verdict, safe in this process: no exits, loops, forks, floods, and no patching
# of the grader (huge_reply lifts the wire's limits of the process it runs in: the boundary is its target)
SAFE_ATTACKS = ["exception", "wrong_shape", "missing_function", "syntax_error", "exit_at_import",
                "grader_fault_text", "grader_fault_class"]
ADD_ZERO = '''

def masked_scores(scores, mask):
    scores.add_(0)  # an in-place operation that changes no value (it only bumps the version counter)
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
        raise ValueError("mask must be a bool tensor")
    return scores.masked_fill(~mask, float("-inf"))
'''
pytestmark = pytest.mark.timeout(900)


def _write(root: Path, qid: str, text: str) -> None:
    path = root / qid / all_questions()[qid].filename
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _attack(name: str) -> str:
    text = (ATTACKS / name / "q21" / "causal_mask.py").read_text(encoding="utf-8")
    if not (ATTACKS / name / "NO_BASE").exists():
        text = (ATTACKS / "_base" / "q21.py").read_text(encoding="utf-8") + "\n\n" + text
    return text


def submissions(work: Path) -> list[tuple[str, Path, list[str]]]:
    """(label, folder, questions graded) for every submission of the comparison."""
    out = [("references", PROJECT_ROOT / "solutions", QIDS), ("stubs", PROJECT_ROOT / "exercises", QIDS)]
    slots: dict[str, list[tuple[str, str]]] = {q: [] for q in QIDS}  # per question: (label, source)
    for m in catalog(QIDS):
        slots[m.qid].append((m.label, m.source()))
    reference_q21 = (PROJECT_ROOT / "solutions" / "q21" / "causal_mask.py").read_text(encoding="utf-8")
    slots["q21"].append(("q21:add_zero_in_place", reference_q21 + ADD_ZERO))
    slots["q21"] += [(f"attack:{name}", _attack(name)) for name in SAFE_ATTACKS]
    for k in range(max(len(s) for s in slots.values())):
        root = work / f"layer{k:02d}"
        labels, qids = [], []
        for qid in QIDS:
            if k < len(slots[qid]):
                label, text = slots[qid][k]
                _write(root, qid, text)
                labels.append(label)
                qids.append(qid)
        out.append((" + ".join(labels), root, qids))
    return out


def _batch(spec_path: str) -> int:
    """Run the jobs of a spec file in this process, pytest once per job."""
    import pytest as _pytest
    for job in json.loads(Path(spec_path).read_text(encoding="utf-8")):
        _pytest.main([*(str(PROJECT_ROOT / "tests" / q) for q in job["qids"]), "--impl", job["impl"], "-q",
                      "-p", "no:cacheprovider", "-m", "not timing", "--results", job["results"],
                      *(["--isolate"] if job["isolate"] else [])])
    return 0


def _verdict(o: outcomes.Outcome) -> str:
    return "not passed" if o.status in ("failed", "error") else o.status


@pytest.fixture(scope="module")
def both_modes(tmp_path_factory) -> dict:
    work = tmp_path_factory.mktemp("parity")
    subs = submissions(work)
    jobs = [{"label": label, "impl": str(root), "qids": qids, "isolate": iso,
             "results": str(work / f"{i:02d}-{'isolated' if iso else 'in-process'}.json")}
            for i, (label, root, qids) in enumerate(subs) for iso in (False, True)]
    # two batches of about equal cost (an isolated run costs about twice an in-process one)
    batches: list[list[dict]] = [[], []]
    cost = [0.0, 0.0]
    for job in sorted(jobs, key=lambda j: -(2 if j["isolate"] else 1)):
        i = cost.index(min(cost))
        batches[i].append(job)
        cost[i] += 2 if job["isolate"] else 1
    t0 = time.monotonic()
    procs = []
    for i, batch in enumerate(batches):
        spec = work / f"batch{i}.json"
        spec.write_text(json.dumps(batch), encoding="utf-8")
        procs.append(subprocess.Popen([sys.executable, __file__, "--batch", str(spec)], cwd=PROJECT_ROOT,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    for p in procs:
        p.wait(timeout=850)
    seconds = time.monotonic() - t0
    results = {}
    for job in jobs:
        path = Path(job["results"])
        results[(job["label"], job["isolate"])] = outcomes.read(path) if path.exists() else []
    print(f"\nparity: {len(subs)} submissions x 2 modes in {seconds:.0f} s")
    shutil.rmtree(work, ignore_errors=True)
    return {"labels": [s[0] for s in subs], "qids": {s[0]: s[2] for s in subs}, "results": results,
            "seconds": seconds}


def _ids() -> list[str]:
    """The submissions' labels (for test ids), without building anything."""
    n = max([len([m for m in catalog([q])]) for q in QIDS if q != "q21"]
            + [len(catalog(["q21"])) + 1 + len(SAFE_ATTACKS)])
    return ["references", "stubs", *(f"layer{k:02d}" for k in range(n))]


@pytest.mark.parametrize("index", range(len(_ids())), ids=_ids())
def test_same_verdicts_in_process_and_isolated(both_modes, index):
    label = both_modes["labels"][index]
    here, there = (both_modes["results"][(label, iso)] for iso in (False, True))
    assert here and there, f"{label}: no results (in-process {len(here)}, isolated {len(there)})"
    a = {o.nodeid: o for o in here}
    b = {o.nodeid: o for o in there}
    assert a.keys() == b.keys(), f"{label}: different tests ran: {sorted(a.keys() ^ b.keys())[:10]}"
    assert {o.qid for o in here} == set(both_modes["qids"][label]), f"{label}: questions missing"
    differ = [f"{n}: in-process {_verdict(a[n])} ({(a[n].message.splitlines() or [''])[0][:150]!r}), "
              f"isolated {_verdict(b[n])} ({(b[n].message.splitlines() or [''])[0][:150]!r})"
              for n in a if _verdict(a[n]) != _verdict(b[n])]
    assert not differ, f"{label}: {len(differ)} verdicts depend on the mode:\n  " + "\n  ".join(differ[:10])


def test_the_in_place_no_op_passes_and_real_changes_fail_in_both_modes(both_modes):
    """``scores.add_(0)`` changes no value: it passes; the q28 mutant that edits its input fails, in both."""
    for label in both_modes["labels"]:
        for iso in (False, True):
            outcomes = both_modes["results"][(label, iso)]
            if "q21:add_zero_in_place" in label:
                bad = [o.nodeid for o in outcomes if o.qid == "q21" and o.status != "passed"]
                assert not bad, f"add_(0) fails {'isolated' if iso else 'in-process'}: {bad[:5]}"
            if "q28:edits_in_place" in label:
                hit = [o for o in outcomes if o.qid == "q28" and re.search("changed in place", o.message or "")]
                assert hit, f"q28:edits_in_place is not failed for its in-place edit ({'isolated' if iso else 'in-process'})"


def test_parity_runs_in_bounded_time(both_modes):
    """About 136 s of CPU in two parallel processes (263-305 s wall measured with the machine at load 6-10)."""
    assert both_modes["seconds"] < 600, f"the parity runs took {both_modes['seconds']:.0f} s"


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--batch":
        sys.exit(_batch(sys.argv[2]))
    sys.exit(f"usage: python {sys.argv[0]} --batch SPEC.json (run by qa/test_parity.py)")
