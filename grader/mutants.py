"""The mutant catalog: plausible wrong implementations, each the reference with one bug.

``mutants/qNN.toml`` lists replacements applied to ``solutions/qNN/<module>.py``. This module builds
each mutant as a submission folder and runs the question's hidden suite against it, giving the kill
matrix (which tests caught which mutant).

    python -m grader.mutants            # every question, kill matrix, exit 1 if a mutant survives
    python -m grader.mutants q21 q36    # some questions
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

from . import junit
from .questions import PROJECT_ROOT, all_questions, existing

MUTANTS_DIR = PROJECT_ROOT / "mutants"


@dataclass(frozen=True)
class Mutant:
    qid: str
    name: str
    why: str
    old: str
    new: str

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
            out.append(Mutant(qid, m["name"], m["why"], m["old"], m["new"]))
    return out


def build(mutant: Mutant, dest: Path) -> Path:
    """A submission folder: the references everywhere, the mutant in its question."""
    root = dest / mutant.label.replace(":", "__")
    q = all_questions()[mutant.qid]
    (root / mutant.qid).mkdir(parents=True, exist_ok=True)
    (root / mutant.qid / q.filename).write_text(mutant.source(), encoding="utf-8")
    return root


def run_suite(impl: Path, qid: str, xml: Path, extra: tuple[str, ...] = ()) -> list[junit.Outcome]:
    cmd = [sys.executable, "-m", "pytest", str(PROJECT_ROOT / "tests" / qid), "--impl", str(impl), "-q",
           "-p", "no:cacheprovider", f"--junitxml={xml}", "-o", "junit_family=xunit1", *extra]
    subprocess.run(cmd, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return junit.read(xml) if xml.exists() else []


def kill(mutant: Mutant, work: Path, every_test: bool = False) -> tuple[Mutant, list[junit.Outcome]]:
    """Run the question's hidden suite on the mutant (stopping at the first failure unless every_test)."""
    impl = build(mutant, work)
    extra = () if every_test else ("-x",)
    return mutant, run_suite(impl, mutant.qid, work / f"{mutant.label.replace(':', '__')}.xml", extra)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m grader.mutants", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("qids", nargs="*", help="questions (default: all that have mutants)")
    ap.add_argument("-j", "--jobs", type=int, default=2)
    ap.add_argument("--every-test", action="store_true", help="run every hidden test, not just up to the first kill")
    args = ap.parse_args(argv)
    present = {q.qid for q in existing()}
    mutants = [m for m in catalog(args.qids or None) if m.qid in present]
    survivors = 0
    with tempfile.TemporaryDirectory() as tmp, cf.ThreadPoolExecutor(args.jobs) as pool:
        futures = [pool.submit(kill, m, Path(tmp), args.every_test) for m in mutants]
        for i, fut in enumerate(cf.as_completed(futures), 1):
            m, outcomes = fut.result()
            failed = [o for o in outcomes if o.status in ("failed", "error")]
            status = "killed " if failed else "SURVIVED"
            survivors += not failed
            caught = ", ".join(o.nodeid.split("::")[-1] for o in failed[:3]) + (" ..." if len(failed) > 3 else "")
            print(f"[{i}/{len(mutants)}] {status} {m.label:<34} {len(failed):>3}/{len(outcomes):<3} {caught}",
                  flush=True)
    print(f"{len(mutants) - survivors} of {len(mutants)} mutants killed")
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
