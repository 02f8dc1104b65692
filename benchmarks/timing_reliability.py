"""How reliable are the timing tests? Run them N times against the references (every run must pass),
against the correct-but-slow mutants (``timing = true`` in mutants/qNN.toml; every run must fail) and
against the dishonest not-flash / no-cache submissions of qa/unfakeable (memoising, self-slowing,
multi-threaded, multi-process: every run must fail), on a quiet machine and with the other core kept
busy, and report false failures, false passes and the measured ratios.

    python benchmarks/timing_reliability.py --runs 20            # quiet, then busy; prints a Markdown table
    python benchmarks/timing_reliability.py --runs 20 --no-busy --no-isolate
    python benchmarks/timing_reliability.py --runs 5 --attacks memoise threads   # chosen attacks only
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from grader import outcomes  # noqa: E402
from grader.mutants import build, catalog  # noqa: E402


def timing_questions() -> list[str]:
    out = []
    for d in sorted((ROOT / "tests").glob("q*")):
        if any("mark.timing" in p.read_text(encoding="utf-8") for p in d.glob("test_*.py")):
            out.append(d.name)
    return out


def pytest(qid: str, impl: Path, results: Path, *extra: str) -> list[outcomes.Outcome]:
    env = dict(os.environ, PYTHONPATH=f"{HERE}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    subprocess.run([sys.executable, "-m", "pytest", str(ROOT / "tests" / qid), "--impl", str(impl), "-q",
                    "-p", "no:cacheprovider", "-p", "repeat_timing", "--results", str(results),
                    *extra], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return outcomes.read(results) if results.exists() else []


def slow_mutants(qids: list[str], work: Path) -> list[tuple[str, str, Path]]:
    """The mutants whose bug only the timing tests see (``timing = true``)."""
    return [(m.qid, m.name, build(m, work)) for m in catalog(qids) if m.timing]


def attacks(names: list[str] | None, work: Path) -> list[tuple[str, str, Path]]:
    """qa/unfakeable's submissions, one subject per trick and question."""
    sys.path.insert(0, str(ROOT / "qa"))
    import test_unfakeable as unfakeable  # noqa: E402 - the attacks and how they are built live there
    out = []
    for trick in names if names is not None else unfakeable.TRICKS:
        impl = unfakeable.build(trick, work / "attacks")
        out += [(qid, trick, impl) for qid in ("q24", "q36") if (impl / qid).is_dir()]
    return out


def spin() -> None:  # keeps one core busy
    while True:
        pass


def run(label: str, qid: str, impl: Path, runs: int, isolate: bool, work: Path) -> tuple[dict, list[bool]]:
    """Per timing test {passed, total, ratios, threshold}, and per run whether every timing test passed."""
    xml, ratios = work / f"{label}_{qid}.outcomes.json", work / f"{label}_{qid}.json"
    extra = ["-m", "timing", "--repeat", str(runs), "--ratios-out", str(ratios)] + (["--isolate"] if isolate else [])
    outs = pytest(qid, impl, xml, *extra)
    recs = json.loads(ratios.read_text(encoding="utf-8")) if ratios.exists() else []
    by_test: dict[str, dict] = {}
    run_ok: dict[int, bool] = {}
    for o in outs:
        name = o.nodeid.split("::")[-1].split("[")[0]
        d = by_test.setdefault(name, {"passed": 0, "total": 0, "ratios": [], "threshold": float("nan")})
        d["total"] += 1
        d["passed"] += o.status == "passed"
        m = re.search(r"run(\d+)", o.nodeid)
        i = int(m.group(1)) if m else 0
        run_ok[i] = run_ok.get(i, True) and o.status == "passed"
    for r in recs:
        name = r["test"].split("::")[-1]
        if name in by_test:
            by_test[name]["ratios"].append(r["ratio"])
            by_test[name]["threshold"] = r["threshold"]
    return by_test, [run_ok[i] for i in sorted(run_ok)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--no-busy", action="store_true", help="only the quiet machine")
    ap.add_argument("--only-busy", action="store_true", help="only with the other core kept busy")
    ap.add_argument("--no-isolate", action="store_true", help="run submissions in-process (default: isolated worker)")
    ap.add_argument("--mutants", nargs="*", metavar="QID:NAME",
                    help="time only these mutants (every run must fail), e.g. q36:fa_full_matrix_then_mask")
    ap.add_argument("--attacks", nargs="*", metavar="TRICK",
                    help="the qa/unfakeable attacks to time (default: all; give none to skip them)")
    ap.add_argument("--no-references", action="store_true", help="leave the references out")
    args = ap.parse_args()
    qids = timing_questions()
    rows, problems = [], 0
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if args.mutants:
            wanted = set(args.mutants)
            mutants = [(m.qid, m.name, build(m, work)) for m in catalog(qids) if m.label in wanted]
        else:
            mutants = slow_mutants(qids, work)
        cheats = attacks(args.attacks, work) if args.attacks is None or args.attacks else []
        print(f"timing tests in {', '.join(qids)}; slow mutants: {', '.join(f'{q}:{n}' for q, n, _ in mutants)}; "
              f"attacks: {', '.join(f'{q}:{n}' for q, n, _ in cheats)}", flush=True)
        for busy in ([False] if args.no_busy else [True] if args.only_busy else [False, True]):
            spinner = None
            if busy:
                spinner = mp.Process(target=spin, daemon=True)
                spinner.start()
            try:
                subjects = ([] if args.mutants or args.no_references else
                            [(q, "reference", ROOT / "solutions", True) for q in qids]) + \
                           [(q, f"mutant {n}", impl, False) for q, n, impl in mutants] + \
                           [(q, f"attack {n}", impl, False) for q, n, impl in cheats]
                for qid, who, impl, should_pass in subjects:
                    tag = "busy" if busy else "quiet"
                    res, runs_ok = run(f"{tag}_{who.replace(' ', '_')}", qid, impl, args.runs, not args.no_isolate,
                                       work)
                    wrong = sum(not ok for ok in runs_ok) if should_pass else sum(runs_ok)
                    problems += wrong
                    kind = "false failures" if should_pass else "false passes"
                    print(f"{tag:5} {qid} {who:<34} runs {len(runs_ok)}: {kind} {wrong}", flush=True)
                    for test, d in res.items():
                        rs = d["ratios"] or [float("nan")]
                        rows.append((tag, qid, who, test, d["passed"], d["total"], kind, wrong,
                                     min(rs), statistics.median(rs), max(rs), d["threshold"]))
                        print(f"      {test:<48} passed {d['passed']:>2}/{d['total']:<2} ratio min/med/max "
                              f"{min(rs):.1f}/{statistics.median(rs):.1f}/{max(rs):.1f} "
                              f"(threshold {d['threshold']:g})", flush=True)
            finally:
                if spinner:
                    spinner.terminate()
    print("\nA reference run is a false failure when any of its timing tests fails; a slow mutant's or an attack's")
    print("run is a false pass when none of them fails (the count is per run of the question's timing tests).\n")
    print("| machine | question | implementation | test | passed | runs wrong | ratio min / median / max | threshold |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} | `{r[3]}` | {r[4]}/{r[5]} | {r[6]}: {r[7]} | "
              f"{r[8]:.1f} / {r[9]:.1f} / {r[10]:.1f} | {r[11]:g} |")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
