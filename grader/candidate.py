"""The candidate's loop: progress over the self-checks, hints in tiers, and a watch mode."""
from __future__ import annotations

import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

from . import junit
from .questions import PACKAGE_DIR, all_questions
from .report import _pad

HINTS_DIR = PACKAGE_DIR / "hints"
STATES = {"passing": "✔ passing", "failing": "✘ failing", "todo": "· not started", "missing": "? missing"}


def self_check_outcomes(exercises: Path, only: list[str] | None = None) -> list[junit.Outcome]:
    """Run the visible self-checks (timing tests excluded) in a subprocess; one outcome per test."""
    targets = [str(exercises / q) for q in (only or [])] or [str(exercises)]
    with tempfile.TemporaryDirectory() as tmp:
        xml = Path(tmp) / "self.xml"
        subprocess.run([sys.executable, "-m", "pytest", *targets, "-q", "-p", "no:cacheprovider",
                        "-m", "not timing", f"--junitxml={xml}", "-o", "junit_family=xunit1",
                        "--rootdir", str(exercises.parent)],
                       cwd=exercises.parent, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return junit.read(xml) if xml.exists() else []


def classify(outcomes: list[junit.Outcome]) -> str:
    if not outcomes:
        return "missing"
    bad = [o for o in outcomes if o.status in ("failed", "error")]
    if not bad:
        return "passing"
    if len(bad) == len(outcomes) and all("not implemented yet" in o.message for o in bad):
        return "todo"
    return "failing"


def progress(exercises: Path) -> int:
    exercises = exercises.resolve()
    t0 = time.perf_counter()
    outcomes = self_check_outcomes(exercises)
    by_q: dict[str, list[junit.Outcome]] = {}
    for o in outcomes:
        by_q.setdefault(o.qid, []).append(o)
    rows, counts, next_q = [], {k: 0 for k in STATES}, None
    for q in all_questions().values():
        if not (exercises / q.qid).is_dir():
            continue
        mine = by_q.get(q.qid, [])
        state = classify(mine)
        counts[state] += 1
        passed = sum(o.status == "passed" for o in mine)
        if state != "passing" and next_q is None:
            next_q = q
        rows.append(f"  {_pad(STATES[state], 14)} {q.qid}  {_pad(q.title, 48)} {passed:>2}/{len(mine):<2} self-checks")
        if state == "failing":
            first = next(o for o in mine if o.status in ("failed", "error"))
            rows.append(f"      first failure: {(first.message.splitlines() or [''])[0][:110]}")
    total = sum(counts.values())
    bar = "#" * counts["passing"] + "-" * (total - counts["passing"])
    print(f"Progress [{bar}] {counts['passing']}/{total} questions pass their self-checks "
          f"({time.perf_counter() - t0:.1f}s)")
    print("\n".join(rows))
    if next_q is not None:
        print(f"\nNext: {next_q.qid} — read exercises/{next_q.qid}/README.md, edit "
              f"exercises/{next_q.qid}/{next_q.filename}, then `pytest exercises/{next_q.qid}`.\n"
              f"Stuck? `llmgrade hint {next_q.qid}` (levels 1–3).")
    else:
        print("\nAll self-checks pass. The hidden suites check much more: edge cases, dtypes, speed.")
    return 0


def hints_for(qid: str) -> list[dict]:
    path = HINTS_DIR / f"{qid}.toml"
    if not path.exists():
        return []
    return tomllib.loads(path.read_text(encoding="utf-8")).get("hint", [])


def hint(qid: str, level: int, lang: str) -> int:
    qid = qid.lower() if qid.lower().startswith("q") else f"q{qid}"
    tiers = hints_for(qid)
    if not tiers:
        print(f"no hints for {qid}", file=sys.stderr)
        return 2
    level = max(1, min(level, len(tiers)))
    names = {1: "nudge / 提示", 2: "key idea / 关键思路", 3: "formula / 公式"}
    for i in range(level):
        print(f"[{i + 1}] {names.get(i + 1, '')}")
        if lang in ("en", "both"):
            print(f"    {tiers[i]['en']}")
        if lang in ("zh", "both"):
            print(f"    {tiers[i]['zh']}")
    if level < len(tiers):
        print(f"(more: llmgrade hint {qid} {level + 1})")
    return 0


def watch(exercises: Path, interval: float = 0.5) -> int:  # pragma: no cover - interactive
    exercises = exercises.resolve()
    print(f"watching {exercises} — save a file in a qNN folder to re-run its self-check (Ctrl-C stops)")
    seen = {p: p.stat().st_mtime for p in exercises.glob("q*/*.py")}
    try:
        while True:
            time.sleep(interval)
            for p in exercises.glob("q*/*.py"):
                m = p.stat().st_mtime
                if seen.get(p) != m:
                    seen[p] = m
                    print(f"\n== {p.parent.name}: {p.name} changed", flush=True)
                    subprocess.run([sys.executable, "-m", "pytest", str(p.parent), "-q", "-m", "not timing",
                                    "-p", "no:cacheprovider"], cwd=exercises.parent)
    except KeyboardInterrupt:
        return 0
