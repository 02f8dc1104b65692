"""The candidate's loop: progress over the self-checks, hints in tiers, and a watch mode."""
from __future__ import annotations

import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

from .outcomes import Outcome, read
from .questions import PACKAGE_DIR, Question, all_questions
from .report import _clip as _clip_words
from .report import _pad

HINTS_DIR = PACKAGE_DIR / "hints"
STATES = {"passing": "✔ passing", "failing": "✘ failing", "started": "◐ started", "todo": "· not started",
          "missing": "? no checks"}
# Per-test time limit while `progress` and `watch` run the self-checks (each takes well under a second;
# an endless loop in a candidate's code must not hold the overview up for the project's 120 s).
PROGRESS_TIMEOUT_S = 10
WATCH_TIMEOUT_S = 30
TITLE_WIDTH = 50


def _pytest_command(targets: list[str], *extra: str, timeout: int) -> list[str]:
    return [sys.executable, "-m", "pytest", *targets, "-q", "-p", "no:cacheprovider", "-p", "grader.plugin",
            "-m", "not timing",
            "-o", f"timeout={timeout}", *extra]


def self_check_outcomes(exercises: Path, only: list[str] | None = None) -> list[Outcome]:
    """Run the visible self-checks (timing tests excluded) in one subprocess; one outcome per test."""
    outcomes, _ = _run_self_checks(exercises, only)
    return outcomes


def _run_self_checks(exercises: Path, only: list[str] | None = None) -> tuple[list[Outcome], str]:
    """(outcomes, trouble): trouble describes a run that ended without results (e.g. a crashed process)."""
    targets = [str(exercises / q) for q in (only or [])] or [str(exercises)]
    with tempfile.TemporaryDirectory() as tmp:
        results = Path(tmp) / "self.json"
        # The unraisable/thread-exception plugins only add a slow garbage collection at the end here.
        cmd = _pytest_command(targets, "--results", str(results),
                              "-p", "no:unraisableexception", "-p", "no:threadexception",
                              "--rootdir", str(exercises.parent), timeout=PROGRESS_TIMEOUT_S)
        proc = subprocess.run(cmd, cwd=exercises.parent, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, errors="replace")
        if results.exists():
            return read(results), ""
        tail = "\n".join("    " + ln for ln in proc.stdout.strip().splitlines()[-12:])
        return [], f"the self-checks stopped without a result (exit status {proc.returncode}):\n{tail}"


def classify(outcomes: list[Outcome]) -> str:
    if not outcomes:
        return "missing"
    bad = [o for o in outcomes if o.status in ("failed", "error")]
    if not bad:
        return "passing"
    if all(o.kind == "not_implemented" for o in bad):
        return "todo" if len(bad) == len(outcomes) else "started"
    return "failing"


def _clip(text: str, width: int) -> str:
    """The first line, cut at a word boundary with an ellipsis when longer than ``width``."""
    return _clip_words((text.splitlines() or [""])[0].strip(), width)


def _title(q: Question) -> str:
    padded = _pad(q.title, TITLE_WIDTH)
    return padded if padded.rstrip() == q.title else _pad(q.title, TITLE_WIDTH - 1).rstrip() + "…"


def _timed_questions(exercises: Path) -> set[str]:
    """Questions whose self-check has timing tests (not run by `progress`)."""
    return {p.parent.name for p in exercises.glob("q*/test_*.py")
            if "mark.timing" in p.read_text(encoding="utf-8", errors="replace")}


def _row(q: Question, state: str, mine: list[Outcome], timed: bool) -> list[str]:
    passed = sum(o.status == "passed" for o in mine)
    count = f"{passed:>2}/{len(mine):<2} self-checks" if mine else ""
    rows = [f"  {_pad(STATES[state], 13)} {q.qid}  {_title(q)} {count}".rstrip()]
    bad = [o for o in mine if o.status in ("failed", "error")]
    if state == "failing":
        first = next(o for o in bad if o.kind != "not_implemented")
        name = first.nodeid.split("::")[-1]
        rows.append(f"      {_clip(f'{name}: {first.message}', 108)}")
    elif state == "started":
        todo = sorted({o.function for o in bad})
        rows.append(f"      still to write: {', '.join(todo)}")
    if state == "passing" and timed:
        rows.append(f"      (its timing self-checks are not run here: `pytest exercises/{q.qid}`)")
    return rows


def _next_step(next_q: Question, state: str) -> str:
    if state in ("failing", "started", "missing"):
        return (f"Next: finish {next_q.qid} (下一步) — `pytest exercises/{next_q.qid}` shows each failing check "
                f"with what was expected.\nStuck? `llmgrade hint {next_q.qid}` (levels 1–3).")
    return (f"Next: {next_q.qid} (下一题) — read exercises/{next_q.qid}/README.md, edit "
            f"exercises/{next_q.qid}/{next_q.filename}, then `pytest exercises/{next_q.qid}` (or `llmgrade watch`).\n"
            f"Stuck? `llmgrade hint {next_q.qid}` (levels 1–3).")


def progress(exercises: Path) -> int:
    exercises = exercises.resolve()
    t0 = time.perf_counter()
    outcomes, trouble = _run_self_checks(exercises)
    if trouble:
        print(f"llmgrade progress: {trouble}\nRun `pytest exercises -x` to see which question stops it "
              f"(a crash or os._exit in your code?).", file=sys.stderr)
        return 1
    by_q: dict[str, list[Outcome]] = {}
    for o in outcomes:
        by_q.setdefault(o.qid, []).append(o)
    timed = _timed_questions(exercises)
    rows, counts, states = [], {k: 0 for k in STATES}, {}
    for q in all_questions().values():
        if not (exercises / q.qid).is_dir():
            continue
        mine = by_q.get(q.qid, [])
        state = states[q.qid] = classify(mine)
        counts[state] += 1
        rows += _row(q, state, mine, q.qid in timed)
    total = sum(counts.values())
    bar = "#" * counts["passing"] + "-" * (total - counts["passing"])
    print(f"Progress [{bar}] {counts['passing']}/{total} questions pass their self-checks "
          f"({time.perf_counter() - t0:.1f}s)")
    print("\n".join(rows))
    qs = [q for q in all_questions().values() if q.qid in states]
    next_q = next((q for q in qs if states[q.qid] in ("failing", "started", "missing")), None) \
        or next((q for q in qs if states[q.qid] == "todo"), None)
    if next_q is not None:
        print("\n" + _next_step(next_q, states[next_q.qid]))
    else:
        print("\nAll self-checks pass / 全部自测通过. The interviewer's hidden tests check much more "
              "(edge cases, both dtypes, bad arguments, speed): re-read each README's notes.")
    return 0


def hints_for(qid: str) -> list[dict]:
    path = HINTS_DIR / f"{qid}.toml"
    if not path.exists():
        return []
    return tomllib.loads(path.read_text(encoding="utf-8")).get("hint", [])


def _qid(text: str) -> str:
    text = text.strip().lower()
    return text if text.startswith("q") else f"q{text}"


def hint(qid: str, level: int, lang: str) -> int:
    qid = _qid(qid)
    tiers = hints_for(qid)
    if not tiers:
        known = sorted(p.stem for p in HINTS_DIR.glob("q*.toml"))
        span = f"{known[0]}–{known[-1]}" if known else "none"
        print(f"llmgrade hint: no hints for {qid!r} (questions with hints: {span}); e.g. `llmgrade hint q21`",
              file=sys.stderr)
        return 2
    level = max(1, min(level, len(tiers)))
    names = {1: "nudge / 提示", 2: "key idea / 关键思路", 3: "formula / 公式"}
    q = all_questions().get(qid)
    print(f"{qid}" + (f" · {q.title}" if q else ""))
    for i in range(level):
        print(f"[{i + 1}] {names.get(i + 1, '')}")
        if lang in ("en", "both"):
            print(f"    {tiers[i]['en']}")
        if lang in ("zh", "both"):
            print(f"    {tiers[i]['zh']}")
    if level < len(tiers):
        print(f"(more / 更多: llmgrade hint {qid} {level + 1})")
    return 0


def _snapshot(exercises: Path) -> dict[Path, float]:
    out = {}
    for p in exercises.glob("q*/*.py"):
        try:
            out[p] = p.stat().st_mtime
        except OSError:  # replaced while we looked (editors save through a temporary file)
            continue
    return out


def watch(exercises: Path, interval: float = 0.5) -> int:  # pragma: no cover - interactive
    exercises = exercises.resolve()
    print(f"watching {exercises}: save a file in a qNN folder to re-run that question's self-check "
          f"(Ctrl-C stops; `llmgrade progress` gives the overview)", flush=True)
    seen = _snapshot(exercises)
    timed = _timed_questions(exercises)
    try:
        while True:
            time.sleep(interval)
            now = _snapshot(exercises)
            changed = sorted({p.parent.name for p, m in now.items() if seen.get(p) != m})
            if not changed:
                continue
            time.sleep(interval)  # let an editor finish writing (several files, or write-then-rename)
            seen = _snapshot(exercises)
            for qid in changed:
                print(f"\n== {time.strftime('%H:%M:%S')} {qid} changed: pytest exercises/{qid}", flush=True)
                proc = subprocess.run(_pytest_command([str(exercises / qid)], "-rN", timeout=WATCH_TIMEOUT_S),
                                      cwd=exercises.parent)  # -rN: no summary repeating the failures
                if proc.returncode == 0:
                    more = f" (timing self-checks: `pytest exercises/{qid}`)" if qid in timed else ""
                    print(f"✔ {qid}: every self-check passes{more}", flush=True)
                elif proc.returncode == 1:
                    print(f"✘ {qid}: some self-checks fail (above); save again to re-run", flush=True)
                else:
                    print(f"? {qid}: pytest stopped with exit status {proc.returncode}", flush=True)
    except KeyboardInterrupt:
        return 0
