"""Grading a submission: run the hidden suites against it and turn outcomes into points.

A question's points follow its rubric (``grader.rubric``): named parts, each the share of its tests that
pass, gated on correct values where a test alone could be passed by doing nothing.
The hidden suites run in this (trusted) process through pytest, with ``grader.plugin`` and a
``grader.outcomes.Collector``: the plugin's hooks hand over one outcome per test (status, kind, message,
rubric part, seconds) directly, with no report file in between. With ``isolate=True`` the submission's
code runs in an isolated worker (``grader.isolation``).
"""
from __future__ import annotations

import io
import re
import json
import time
from collections import Counter
from contextlib import redirect_stdout
from pathlib import Path
from typing import Callable

from .loading import GRADER_FAULT
from .outcomes import Collector, Outcome
from .questions import PROJECT_ROOT, Question, all_questions
from .rubric import Part, score_parts

_NO_PART = Part("none", "in no part", 1.0, ("",))

TESTS_DIR = PROJECT_ROOT / "tests"


class GradingError(Exception):
    """Grading itself could not run (not the candidate's fault)."""


class _Progress:
    """A pytest plugin that reports each finished test to a callback: (done, total, nodeid, outcome),
    and collects the faults of the grader that ``grader.plugin`` flagged (``faults``: nodeid, text)."""

    def __init__(self, callback: Callable[[int, int, str, str], None] | None):
        self.callback = callback
        self.total = 0
        self.done = 0
        self.faults: list[tuple[str, str]] = []

    def pytest_collection_modifyitems(self, items):
        self.total = len(items)

    def pytest_runtest_logreport(self, report):
        self.faults += [(report.nodeid, str(v)) for k, v in report.user_properties if k == GRADER_FAULT]
        if report.when == "call" or (report.when == "setup" and not report.passed):
            self.done += 1
            if self.callback:
                self.callback(self.done, self.total, report.nodeid, report.outcome)


def hidden_questions(qids: list[str] | None = None) -> list[Question]:
    qs = [q for q in all_questions().values() if (TESTS_DIR / q.qid).is_dir()]
    if qids:
        unknown = set(qids) - {q.qid for q in qs}
        if unknown:
            raise GradingError(f"no hidden suite for {', '.join(sorted(unknown))}")
        qs = [q for q in qs if q.qid in qids]
    return qs


def run_hidden(submission: Path, qs: list[Question], *, isolate: bool, progress: Callable | None = None,
               timing: bool = True, faults: list | None = None, junit_xml: Path | None = None,
               ) -> tuple[int, str, Collector]:
    """Run the hidden suites in this process: (pytest's exit code, its output, the collected outcomes).
    ``faults`` (if given) receives (nodeid, text) per fault of the grader; ``junit_xml`` (if given) is
    pytest's own JUnit XML for the user (each test with its ``rubric_part`` property), never read back."""
    if isolate:
        from .sandbox.launch import start_early
        start_early()  # the sandbox boots while this process imports torch and pytest and collects the tests
    import pytest

    from . import plugin

    args = [str(TESTS_DIR / q.qid) for q in qs] + [
        "--impl", str(submission), "-q", "-p", "no:cacheprovider", "-p", "no:logging",
        "--rootdir", str(PROJECT_ROOT), "-c", str(PROJECT_ROOT / "pyproject.toml")]
    if junit_xml is not None:
        args += [f"--junitxml={junit_xml}", "-o", "junit_family=xunit1"]
    if isolate:
        args.append("--isolate")
    if not timing:
        args += ["-m", "not timing"]
    out = io.StringIO()
    watch, collector = _Progress(progress), Collector()
    try:
        with redirect_stdout(out):
            code = pytest.main(args, plugins=[plugin, collector, watch])
    finally:
        if isolate:
            from .sandbox.launch import discard_early
            discard_early()
    if faults is not None:
        faults.extend(watch.faults)
    return int(code), out.getvalue(), collector


def _notes(failed: list[Outcome]) -> list[str]:
    firsts = [(o.message.splitlines() or ["(no message)"])[0][:300] for o in failed]
    if failed and all(o.kind == "not_implemented" for o in failed):  # an untouched stub: one line
        names = list(dict.fromkeys(o.function or "?" for o in failed))
        return [f"not implemented yet: {', '.join(names)}"]
    # messages that differ only in numbers are one kind of failure: keep the first wording of each kind
    kinds: dict[str, str] = {}
    counts_by_kind: Counter = Counter()
    for m in firsts:
        key = re.sub(r"[-+]?\d[\d.e+-]*", "#", m)
        kinds.setdefault(key, m)
        counts_by_kind[key] += 1
    counts = Counter({kinds[k]: n for k, n in counts_by_kind.items()})
    return [f"{n} test{'s' if n > 1 else ''}: {msg}" if n > 1 else msg for msg, n in counts.most_common()]


def score(outcomes: list[Outcome], qs: list[Question]) -> dict:
    """Points per question from its rubric (``grader/rubrics/qNN.toml``): each part scores the share of
    its tests that pass, times the share of the parts it is gated on. Skipped tests count as not passed."""
    questions: dict[str, dict] = {}
    for q in qs:
        mine = [o for o in outcomes if o.qid == q.qid]
        passed = [o for o in mine if o.status == "passed"]
        failed = [o for o in mine if o.status in ("failed", "error")]
        skipped = [o for o in mine if o.status == "skipped"]
        notes = _notes(failed)
        if skipped:
            notes.append(f"{len(skipped)} test(s) not measured on this machine (counted as not passed): "
                         + (skipped[0].message.splitlines() or [""])[0][:200])
        if not mine:
            notes.append("no hidden test ran for this question")
        parts = score_parts(q.qid, q.points, [(o.nodeid, o.status) for o in mine])
        for p in parts:
            if p["gate"] and p["passed"] and p["gate_share"] < 1:
                notes.append(f"part '{p['id']}' earns {p['gate_share']:.0%} of its points: it counts only "
                             f"together with correct values ({', '.join(p['gate'])})")
        pts = sum(p["points"] for p in parts) if mine else 0.0
        questions[q.qid] = {
            "title": q.title, "points": round(pts, 4), "max_points": q.points, "passed": len(passed),
            "total": len(mine), "skipped": len(skipped), "notes": notes, "parts": parts,
            "tests": [{"nodeid": o.nodeid, "status": o.status, "kind": o.kind, "message": o.message,
                       "seconds": o.seconds, "part": o.part or _NO_PART.id}
                      for o in mine],
        }
    total = sum(v["points"] for v in questions.values())
    max_total = sum(v["max_points"] for v in questions.values())
    return {"questions": questions, "score": round(total, 4), "max_score": max_total}


def grade(submission: Path | str, qids: list[str] | None = None, *, isolate: bool = True,
          timing: bool = True, progress: Callable | None = None, junit_xml: Path | None = None) -> dict:
    """Grade ``submission`` (a folder shaped like exercises/) and return the report as a dict."""
    submission = Path(submission).resolve()
    if not submission.is_dir():
        raise GradingError(f"{submission} is not a folder shaped like exercises/ (qNN/<module>.py)")
    qs = hidden_questions(qids)
    if not qs:
        raise GradingError("the hidden suites are not in this copy (tests/ is missing)")
    t0 = time.perf_counter()
    faults: list[tuple[str, str]] = []
    code, output, collector = run_hidden(submission, qs, isolate=isolate, progress=progress, timing=timing,
                                         faults=faults, junit_xml=Path(junit_xml) if junit_xml else None)
    outcomes = collector.outcomes
    if not outcomes and code not in (0, 1, 5):  # 5: no test collected (scored as "no hidden test ran")
        raise GradingError(f"pytest produced no results (exit {code}):\n{output[-2000:]}")
    if faults:  # flagged by grader.plugin (a GraderFault of trusted code), never found in a message's text
        nodeid, text = faults[0]
        raise GradingError(f"the grader failed, not the submission, in {nodeid}: {text.splitlines()[0]}")
    report = score(outcomes, qs)
    # integrity flags for the interviewer (grader.integrity): a static scan, never a change of score
    from .integrity import scan_submission
    flags = scan_submission(submission, qs)
    for qid, entry in report["questions"].items():
        entry["integrity"] = flags.get(qid, [])
    report.update({
        "submission": str(submission), "seconds": round(time.perf_counter() - t0, 2),
        "isolation": (collector.isolation if isolate else None) or _isolation_note(isolate), "timing_tests": timing,
        "integrity": [dict(qid=qid, **f) for qid in report["questions"] for f in flags.get(qid, [])],
    })
    return report


def _isolation_note(isolate: bool) -> str:
    if not isolate:
        return "none: the submission ran inside the grading process (--no-isolate)"
    try:
        from .isolation import describe_isolation
        return describe_isolation()
    except Exception as e:  # noqa: BLE001 - the note is informative only
        return f"isolated worker ({type(e).__name__} while describing it)"


def gradescope_results(report: dict) -> dict:
    """Gradescope's results.json: one entry per rubric part of each question."""
    tests = []
    for qid, q in report["questions"].items():
        parts = q.get("parts") or []
        for p in parts:
            full = p["total"] and p["points"] >= p["max_points"] - 1e-9
            mine = [t for t in q["tests"] if t.get("part") == p["id"] and t["status"] != "passed"]
            output = "all tests of this part passed" if full else "\n".join(dict.fromkeys(  # each message once
                (t["message"].splitlines() or ["(no message)"])[0][:300] for t in mine[:5]))
            if p["gate"] and p["gate_share"] < 1 and p["passed"]:
                output += f"\n(counts only together with correct values: {', '.join(p['gate'])})"
            tests.append({"name": f"{qid} {q['title']}: {p['title']}", "score": round(p["points"], 4),
                          "max_score": round(p["max_points"], 4), "status": "passed" if full else "failed",
                          "output": output.strip()})
    from .narrative import lines  # what the candidate showed, per question (grader/narrative.py): hidden from them
    tests.append({"name": "For the interviewer: what the candidate showed, per question (not scored)", "score": 0,
                  "max_score": 0, "status": "passed", "visibility": "hidden", "output": "\n".join(lines(report))})
    return {"score": report["score"], "tests": tests, "output": f"isolation: {report['isolation']}"}


def write_json(path: Path, data: dict) -> None:
    Path(path).write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
