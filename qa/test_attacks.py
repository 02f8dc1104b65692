"""Hostile and broken submissions, graded through the real path: ``pytest tests/q21 tests/q20 --impl
<attack> --isolate`` in a subprocess, read back from its JUnit XML.

Every attack lives in ``qa/attacks/<name>/q21/causal_mask.py`` (untrusted code samples, prepended with
the correct q21 in ``qa/attacks/_base/q21.py`` unless the folder has a ``NO_BASE`` file, so an attack
on one function sits beside a correct one). Files named ``*.txt`` are shipped without the ``.txt``
(``conftest.py``, ``sitecustomize.py``, ``torch.py``, ...: never as live files inside this repo).
The correct q20 from ``solutions/`` sits beside every attack as the well-behaved neighbour.

For each attack: the q21 tests it deserves to fail fail, with a one-line note matching what happened,
the ones it deserves to pass pass, q20 passes completely, the run ends in bounded time, no process of
the run (the scratch path, the attack's marker) survives it, and no file the attack tried to plant
exists. Attacks on the grade itself (``Expect(grade=True)``) run through ``llmgrade grade`` instead,
which must exit 0 with a complete report (every question, every test).
"""
from __future__ import annotations

import concurrent.futures as cf
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from grader import outcomes as outcomes_file
from grader.questions import PROJECT_ROOT

ATTACKS = Path(__file__).resolve().parent / "attacks"
pytestmark = pytest.mark.timeout(1800)  # module fixtures grade every attack

CALL_TIMEOUT = 5  # seconds per call in these runs (the default is 60)
RUN_LIMIT = 420  # seconds for one whole run, start-up included, on a busy 2-core machine

CAUSAL = {"test_square_masks", "test_rectangular_masks", "test_decoding_rows", "test_no_future_leak",
          "test_bad_arguments"}
# the gradient tests (appended under "# --- trains: gradients") go through masked_scores as well
GRAD = set(re.findall(r"^def (test_grad_\w+)", (PROJECT_ROOT / "tests" / "q21" / "test_causal_mask.py").read_text(
    encoding="utf-8"), re.M))
MASKED = {"test_masked_scores", "test_masked_scores_full_mask_shape", "test_non_bool_mask_is_rejected"} | GRAD
ALL = CAUSAL | MASKED
# test_decoding_rows checks that the rectangular masks are the last rows of the square one: a mask that is
# wrong the same way everywhere (e.g. one row too many of all-True) keeps that property.
CONSISTENT = {"test_decoding_rows"}


@dataclass(frozen=True)
class Expect:
    fail: set = field(default_factory=set)  # q21 tests (by function name) that must fail
    message: str = ""  # regex every failing q21 test's message must match (first line)
    why: str = ""
    either: set = field(default_factory=set)  # not judged: a property a consistently wrong answer may keep
    grade: bool = False  # run through `llmgrade grade` (the report is what is at stake), not plain pytest

    @property
    def passes(self) -> set:
        return ALL - self.fail - self.either


EXPECT = {
    "exit_at_import": Expect(ALL, r"importing causal_mask\.py failed at line \d+: SystemExit: 0"),
    "os_exit_in_call": Expect(CAUSAL, r"causal_mask crashed the worker process: the worker process exited with "
                                      r"status 0"),
    "monkeypatch": Expect(ALL - CONSISTENT, why="patches live in the worker; the checks run here",
                          either=CONSISTENT),
    "extra_files": Expect(ALL - CONSISTENT, why="conftest.py, sitecustomize.py, torch.py, ... are never copied or run",
                          either=CONSISTENT),
    "read_references": Expect(CAUSAL, r"causal_mask raised FileNotFoundError: no reference reachable"),
    "loop_at_import": Expect(ALL, rf"importing causal_mask\.py did not finish within {CALL_TIMEOUT} s"),
    "loop_in_call": Expect(CAUSAL, rf"causal_mask (did not finish within {CALL_TIMEOUT} s and was stopped|was not "
                                   rf"run: it already timed out 2 times)"),
    "alloc_50gb": Expect(CAUSAL, r"causal_mask ran out of memory"),
    "fork_bomb": Expect(set(), why="a correct answer earns its points; the processes must not survive"),
    "fake_report": Expect(CAUSAL - CONSISTENT, why="the planted files must not exist", either=CONSISTENT),
    "background": Expect(set(), why="a correct answer earns its points; nothing may survive"),
    "lying_eq": Expect(ALL, why="results cross as plain data; a handle compares by identity"),
    "network": Expect(CAUSAL, r"causal_mask raised ConnectionError: no network"),
    "kill_everything": Expect(CAUSAL - CONSISTENT, why="the grader, the zygote and q20's worker survive",
                              either=CONSISTENT),
    "print_flood": Expect(set(), why="the log is capped, nothing blocks"),
    "fill_disk": Expect(set(), why="a correct answer earns its points; the space it can fill is its own"),
    "huge_result": Expect(ALL, r"the reply of (causal_mask|masked_scores) was too large: (a tensor of [\d,]+ bytes|"
                               r"data nested more than 200 levels deep)"),
    # the grade itself: a fault of the grader is a flag set by trusted code, never a word in a message, and
    # what a reply costs the trusted side to read is bounded (ints by digits, containers by values)
    "grader_fault_text": Expect(ALL, r"(causal_mask|masked_scores) raised (Exception: GraderFault: |GraderFault: )the "
                                     r"grader itself failed", grade=True),
    "grader_fault_class": Expect(ALL, r"(causal_mask|masked_scores) raised GraderFault: the grader", grade=True),
    "huge_reply": Expect(ALL, r"the reply of (causal_mask was too large: an int of about 2,52\d,\d{3} digits; the "
                              r"grader accepts at most 10,000|masked_scores was too large: a list, tuple or set of "
                              r"2,000,000 items; the grader accepts at most 250,000 values)", grade=True),
    "symlink": Expect(ALL, r"must be a regular file \(not a link\)"),
    # plain bad submissions: each reported for its question with a specific message
    "syntax_error": Expect(ALL, r"causal_mask\.py: syntax error at line 5"),
    "missing_function": Expect(CAUSAL, r"defines no `causal_mask`"),
    # (the bad-argument tests check a valid call first, so a wrong shape fails them too)
    "wrong_shape": Expect(CAUSAL - CONSISTENT, r"has shape \(\d+, \d+\), expected "
                          r"\(\d+, \d+\)|The size of tensor a", either=CONSISTENT),
    "exception": Expect(CAUSAL, r"causal_mask raised Boom: the mask exploded \(q21/causal_mask\.py line \d+\)"),
}


class Listener:
    """A TCP listener on 127.0.0.1 that records whether anyone connected (the network attack's bait)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(5)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
                self.connections += 1
                conn.close()
            except OSError:
                pass

    def close(self):
        self._stop = True
        self.thread.join(2)
        self.sock.close()


def build(name: str, dest: Path, subs: dict[str, str]) -> Path:
    """The attack's submission folder: q21 (the attack), q20 (the correct neighbour)."""
    root = dest / "submission"
    src = ATTACKS / name
    if name == "symlink":
        (root / "q21").mkdir(parents=True)
        (root / "q21" / "causal_mask.py").symlink_to(PROJECT_ROOT / "solutions" / "q21" / "causal_mask.py")
    else:
        for path in sorted(src.rglob("*")):
            rel = path.relative_to(src)
            if path.is_dir() or rel.name == "NO_BASE":
                continue
            target = root / str(rel).removesuffix(".txt")
            target.parent.mkdir(parents=True, exist_ok=True)
            text = path.read_text(encoding="utf-8")
            for key, value in subs.items():
                text = text.replace(key, value)
            if rel == Path("q21/causal_mask.py") and not (src / "NO_BASE").exists():
                text = (ATTACKS / "_base" / "q21.py").read_text(encoding="utf-8") + "\n\n" + text
            target.write_text(text, encoding="utf-8")
    if (PROJECT_ROOT / "solutions" / "q20").is_dir():
        (root / "q20").mkdir(parents=True, exist_ok=True)
        shutil.copy2(PROJECT_ROOT / "solutions" / "q20" / "stopping.py", root / "q20" / "stopping.py")
    return root


def survivors(*needles: str) -> list[str]:
    """Processes whose command line mentions any of ``needles``."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(n in cmd for n in needles):
            found.append(f"{pid}: {cmd[:200]}")
    return found


def wait_gone(*needles: str, timeout: float = 5.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        left = survivors(*needles)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


def run_attack(name: str, tmp: Path, grade: bool = False) -> dict:
    marker = f"llmgrade-attack-{name}-{uuid.uuid4().hex[:12]}"
    out = tmp / "out"
    out.mkdir()
    scratch = tmp / "scratch"
    scratch.mkdir()
    listener = Listener()
    subs = {"__PROJECT__": str(PROJECT_ROOT), "__OUT__": str(out), "__MARKER__": marker,
            "__PORT__": str(listener.port)}
    sub = build(name, tmp, subs)
    xml, results = out / "junit.xml", out / "results.json"  # the user's --junit; the plugin's outcomes
    qids = ["q21"] + (["q20"] if (sub / "q20").is_dir() else [])
    report = tmp / "graded.json"  # beside out/, where the fake_report attack plants its report.json
    if grade:  # the whole path an interviewer runs: its exit code and its report are what is at stake
        cmd = [sys.executable, "-m", "grader.cli", "grade", str(sub), "--only", ",".join(qids), "--quiet",
               "--json", str(report), "--junit", str(xml)]
    else:
        cmd = [sys.executable, "-m", "pytest", *[f"tests/{q}" for q in qids], "--impl", str(sub), "--isolate",
               "--call-timeout", str(CALL_TIMEOUT), "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
               "--results", str(results)]
    env = dict(os.environ, TMPDIR=str(scratch))  # the grader's scratch dirs land here: findable afterwards
    t0 = time.monotonic()
    code = None
    try:
        proc = subprocess.run(cmd, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=RUN_LIMIT, env=env)
        output = proc.stdout[-4000:] + proc.stderr[-2000:]
        code = proc.returncode
    except subprocess.TimeoutExpired as e:
        output = f"TIMED OUT after {RUN_LIMIT} s\n{(e.stdout or b'')[-3000:]}"
    seconds = time.monotonic() - t0
    listener.close()
    left = wait_gone(marker, str(scratch))
    graded = json.loads(report.read_text(encoding="utf-8")) if report.exists() else None
    if grade:  # what the grader itself scored
        outcomes = [outcomes_file.Outcome(t["nodeid"], qid, t["status"], t["message"], t["seconds"], t.get("kind", ""),
                                          t.get("part", ""))
                    for qid, q in (graded or {}).get("questions", {}).items() for t in q["tests"]]
    else:
        outcomes = outcomes_file.read(results) if results.exists() else []
    planted = sorted(p.name for p in out.iterdir() if p.name not in ("junit.xml", "results.json"))
    planted += [p for p in (PROJECT_ROOT / "fake-junit.xml", PROJECT_ROOT / "report.json") if p.exists()]
    return {"outcomes": outcomes, "seconds": seconds, "survivors": left, "planted": planted, "code": code,
            "report": graded,
            "connections": listener.connections, "output": output, "scratch_left": list(scratch.iterdir())}


def _fn(o: outcomes_file.Outcome) -> str:
    return re.sub(r"\[.*\]$", "", o.nodeid.split("::")[-1])


# What only namespaces stop: the plain-process fallback (unshare refused) hides neither the file system
# nor the network. On such a machine these attacks are expected to succeed, and the run says so.
NEEDS_NAMESPACES = {"read_references", "network", "fake_report", "fill_disk"}


@pytest.fixture(scope="session")
def isolation_text() -> str:
    from grader.isolation import WorkerProvider
    provider = WorkerProvider(PROJECT_ROOT / "exercises")
    try:
        return provider.isolation
    finally:
        provider.close()


@pytest.fixture(scope="session")
def attack_runs(request, tmp_path_factory, isolation_text) -> dict:
    """Every selected attack, run three at a time (most of a run is start-up and waiting)."""
    names = sorted({item.callspec.params["name"] for item in request.session.items
                    if getattr(item, "originalname", "") == "test_attack" and hasattr(item, "callspec")})
    if isolation_text.startswith(("plain worker processes", "REDUCED")):  # never unleash these on an unprotected machine
        names = [n for n in names if n not in NEEDS_NAMESPACES]
    with cf.ThreadPoolExecutor(3) as pool:
        futures = {n: pool.submit(run_attack, n, tmp_path_factory.mktemp(n), EXPECT[n].grade) for n in names}
        return {n: f.result() for n, f in futures.items()}


@pytest.mark.timeout(3600)  # the first test pays for the session fixture: every run
@pytest.mark.parametrize("name", sorted(EXPECT))
def test_attack(name, attack_runs, isolation_text):
    if name not in ("symlink",) and not (ATTACKS / name).is_dir():
        pytest.fail(f"qa/attacks/{name} is missing")
    if name in NEEDS_NAMESPACES and isolation_text.startswith(("plain worker processes", "REDUCED")):
        pytest.xfail(f"this machine refused namespaces, so {name} is not contained: {isolation_text[:200]}")
    r = attack_runs[name]
    expect = EXPECT[name]
    outcomes = r["outcomes"]
    context = f"\n--- output of the run ---\n{r['output']}"
    assert outcomes, f"{name}: the run produced no results{context}"
    q21 = [o for o in outcomes if o.qid == "q21"]
    q20 = [o for o in outcomes if o.qid == "q20"]
    assert {_fn(o) for o in q21} == ALL, f"{name}: unexpected q21 tests {sorted({_fn(o) for o in q21})}"
    wrong = [f"{o.nodeid}: {o.status} {o.message[:200]!r}" for o in q21
             if _fn(o) not in expect.either and (o.status == "passed") != (_fn(o) in expect.passes)]
    assert not wrong, f"{name}: verdicts differ from what the attack deserves:\n  " + "\n  ".join(wrong) + context
    if expect.message:
        bad = [f"{o.nodeid}: {o.message.splitlines()[0] if o.message else ''!r}" for o in q21
               if o.status != "passed" and not re.search(expect.message, o.message.splitlines()[0] if o.message else "")]
        assert not bad, f"{name}: failure notes do not say what happened (want /{expect.message}/):\n  " + \
            "\n  ".join(bad[:5])
    for o in q21:  # every failure is a one-line note (no traceback dump)
        if o.status != "passed":
            assert o.message and len(o.message.splitlines()[0]) < 1200, f"{name}: {o.nodeid}: {o.message[:300]!r}"
    if (PROJECT_ROOT / "solutions" / "q20").is_dir():
        bad20 = [f"{o.nodeid}: {o.status} {o.message[:200]!r}" for o in q20 if o.status != "passed"]
        assert q20 and not bad20, f"{name}: the correct neighbour q20 did not pass:\n  " + "\n  ".join(bad20) + context
    assert r["seconds"] < RUN_LIMIT, f"{name}: the run took {r['seconds']:.0f} s"
    if expect.grade:  # a complete report: exit 0, every question graded, every test of the run in it
        assert r["code"] == 0 and r["report"], f"{name}: `llmgrade grade` gave no report (exit {r['code']}){context}"
        graded = r["report"]["questions"]
        assert set(graded) == {o.qid for o in outcomes}, f"{name}: questions missing from the report: {sorted(graded)}"
        assert sum(q["total"] for q in graded.values()) == len(outcomes), f"{name}: tests missing from the report"
        assert graded["q21"]["points"] == 0, f"{name}: q21 earned {graded['q21']['points']} points"
    assert not r["survivors"], f"{name}: processes outlived the grading run:\n  " + "\n  ".join(r["survivors"])
    assert not r["planted"], f"{name}: files planted by the attack exist: {r['planted']}"
    assert r["connections"] == 0, f"{name}: the submission reached a listener on 127.0.0.1"
    assert not r["scratch_left"], f"{name}: the grader left its scratch behind: {r['scratch_left']}"
