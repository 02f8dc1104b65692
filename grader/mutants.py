"""The mutant catalog: plausible wrong implementations, each the reference with one bug.

``mutants/qNN.toml`` lists replacements applied to ``solutions/qNN/<module>.py``. This module builds
each mutant as a submission folder and runs the question's hidden suite against it, giving the kill
matrix (which tests caught which mutant).

    python -m grader.mutants            # every question, kill matrix, exit 1 if a mutant survives
    python -m grader.mutants q21 q36    # some questions

The same files hold ``[[variant]]`` tables: CORRECT implementations written with another reasonable
convention the statement leaves open (the regression cases of false fails). Each is also the reference
with one replacement, and may lose at most ``max_loss`` (default 0) of its question.
"""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import shutil
import subprocess
import sys
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

from .outcomes import Outcome, read
from .questions import PROJECT_ROOT, all_questions, existing

MUTANTS_DIR = PROJECT_ROOT / "mutants"


@dataclass(frozen=True)
class Mutant:
    qid: str
    name: str
    why: str
    old: str
    new: str
    min_loss: float = 0.05  # the share of its question it must lose (the rubric's points), at least
    timing: bool = False  # its bug shows in the timing tests: run them for it (they are slow)
    max_loss: float | None = None  # set for a correct variant ([[variant]]): the most it may lose

    @property
    def label(self) -> str:
        return f"{self.qid}:{self.name}"

    def source(self) -> str:
        q = all_questions()[self.qid]
        text = (PROJECT_ROOT / "solutions" / self.qid / q.filename).read_text(encoding="utf-8")
        n = text.count(self.old)
        if n != 1:
            raise ValueError(f"mutant {self.label}: its 'old' snippet occurs {n} times in the reference (needs 1)")
        return f"# MUTANT {self.name}: {self.why}\n" + text.replace(self.old, self.new)


def catalog(qids: list[str] | None = None) -> list[Mutant]:
    out: list[Mutant] = []
    for path in sorted(MUTANTS_DIR.glob("q*.toml")):
        qid = path.stem
        if qids and qid not in qids:
            continue
        for m in tomllib.loads(path.read_text(encoding="utf-8")).get("mutant", []):
            out.append(Mutant(qid, m["name"], m["why"], m["old"], m["new"],
                              float(m.get("min_loss", Mutant.min_loss)), bool(m.get("timing", False))))
    return out


def variants(qids: list[str] | None = None) -> list[Mutant]:
    """The correct variants (``[[variant]]``): each must keep its question's points, up to ``max_loss``."""
    out: list[Mutant] = []
    for path in sorted(MUTANTS_DIR.glob("q*.toml")):
        if qids and path.stem not in qids:
            continue
        for m in tomllib.loads(path.read_text(encoding="utf-8")).get("variant", []):
            out.append(Mutant(path.stem, m["name"], m["why"], m["old"], m["new"], 0.0, bool(m.get("timing", False)),
                              float(m.get("max_loss", 0.0))))
    return out


def build(mutant: Mutant, dest: Path) -> Path:
    """A submission folder: the references everywhere, the mutant in its question."""
    root = dest / mutant.label.replace(":", "__")
    q = all_questions()[mutant.qid]
    (root / mutant.qid).mkdir(parents=True, exist_ok=True)
    (root / mutant.qid / q.filename).write_text(mutant.source(), encoding="utf-8")
    return root


def run_suite(impl: Path, qid: str, results: Path, extra: tuple[str, ...] = ()) -> list[Outcome]:
    cmd = [sys.executable, "-m", "pytest", str(PROJECT_ROOT / "tests" / qid), "--impl", str(impl), "-q",
           "-p", "no:cacheprovider", "-p", "grader.plugin", "--results", str(results), *extra]
    subprocess.run(cmd, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return read(results) if results.exists() else []


def kill(mutant: Mutant, work: Path, every_test: bool = False) -> tuple[Mutant, list[Outcome]]:
    """Run the question's hidden suite on the mutant (every test; the timing tests only for a timing mutant)."""
    impl = build(mutant, work)
    extra = () if every_test or mutant.timing else ("-m", "not timing")
    return mutant, run_suite(impl, mutant.qid, work / f"{mutant.label.replace(':', '__')}.json", extra)


def kill_batch(mutants: list[Mutant], work: Path, every_test: bool = False) -> list[tuple[Mutant, list[Outcome]]]:
    """Like ``kill`` for several mutants, in ONE subprocess that runs pytest once per mutant.

    Importing torch and pytest once instead of once per mutant makes the whole catalog several times
    faster. Each run still loads its mutant by path under its own module name (``--impl``).
    """
    jobs = [(m, build(m, work), work / f"{m.label.replace(':', '__')}.json") for m in mutants]
    cmd = [sys.executable, "-m", "grader.mutants", "--batch", *(["--every-test"] if every_test else [])]
    for m, impl, results in jobs:
        cmd += [m.qid + ("+timing" if m.timing or every_test else ""), str(impl), str(results)]
    subprocess.run(cmd, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return [(m, read(results) if results.exists() else []) for m, _, results in jobs]


def _batch(triples: list[str], every_test: bool) -> int:
    import pytest

    from . import plugin
    for i in range(0, len(triples), 3):
        qid, impl, results = triples[i:i + 3]
        qid, _, timing = qid.partition("+")
        pytest.main([str(PROJECT_ROOT / "tests" / qid), "--impl", impl, "-q", "-p", "no:cacheprovider",
                     "--results", results, *([] if timing else ["-m", "not timing"])], plugins=[plugin])
    return 0


def lost_share(mutant: Mutant, outcomes: list[Outcome]) -> float:
    """The share of its question's points the mutant loses under the rubric (tests not run count as passed)."""
    from .rubric import score_parts
    parts = score_parts(mutant.qid, 1.0, [(o.nodeid, o.status) for o in outcomes], absent_full=True)
    return 1.0 - sum(p["points"] for p in parts)


def kill_all(mutants: list[Mutant], work: Path, jobs: int = 2, every_test: bool = False,
             on_result=None) -> list[tuple[Mutant, list[Outcome]]]:
    """Every mutant, in ``jobs`` parallel batches (mutants of one question stay together)."""
    by_q: dict[str, list[Mutant]] = {}
    for m in mutants:
        by_q.setdefault(m.qid, []).append(m)
    groups = sorted(by_q.values(), key=len, reverse=True)
    batches: list[list[Mutant]] = []
    for g in groups:  # split big questions so the two workers stay busy
        for i in range(0, len(g), 6):
            batches.append(g[i:i + 6])
    results: list[tuple[Mutant, list[Outcome]]] = []
    with cf.ThreadPoolExecutor(max(1, jobs)) as pool:
        for batch_result in pool.map(lambda b: kill_batch(b, work, every_test), batches):
            for r in batch_result:
                results.append(r)
                if on_result:
                    on_result(*r)
    return results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m grader.mutants", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("qids", nargs="*", help="questions (default: all that have mutants)")
    ap.add_argument("-j", "--jobs", type=int, default=2)
    ap.add_argument("--every-test", action="store_true", help="run every hidden test, not just up to the first kill")
    ap.add_argument("--batch", action="store_true", help=argparse.SUPPRESS)  # internal: QID IMPL XML triples
    args = ap.parse_args(argv)
    if args.batch:
        return _batch(args.qids, args.every_test)
    present = {q.qid for q in existing()}
    mutants = [m for m in catalog(args.qids or None) + variants(args.qids or None) if m.qid in present]
    survivors = 0
    done = [0]

    def show(m: Mutant, outcomes: list[Outcome]) -> None:
        nonlocal survivors
        done[0] += 1
        failed = [o for o in outcomes if o.status in ("failed", "error")]
        lost = lost_share(m, outcomes) if outcomes else 0.0
        if m.max_loss is not None:  # a correct variant: it must keep its points
            ok = bool(outcomes) and lost <= m.max_loss + 1e-9
            status = "kept   " if ok else "FALSE FAIL"
        else:
            ok = failed and lost >= m.min_loss - 1e-9
            status = "killed " if ok else ("TOO CHEAP" if failed else "SURVIVED")
        survivors += not ok
        caught = ", ".join(o.nodeid.split("::")[-1] for o in failed[:3]) + (" ..." if len(failed) > 3 else "")
        bound = f"<= {m.max_loss:.0%}" if m.max_loss is not None else f">= {m.min_loss:.0%}"
        print(f"[{done[0]}/{len(mutants)}] {status} {m.label:<34} loses {lost:4.0%} ({bound}) "
              f"{len(failed):>3}/{len(outcomes):<3} {caught}", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        kill_all(mutants, Path(tmp), args.jobs, args.every_test, on_result=show)
    print(f"{len(mutants) - survivors} of {len(mutants)} as stated: mutants killed, each losing at least its "
          f"stated share; correct variants keeping their points")
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
