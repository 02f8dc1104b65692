"""grade-many: every submission under a folder, graded in parallel, with one progress bar.

Each submission is graded by its own ``llmgrade grade`` process (so a broken one never takes the
others down); the summary is written as CSV and HTML, per candidate and per question.
"""
from __future__ import annotations

import csv
import html
import json
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .progressbar import Bar
from .questions import all_questions


def submissions_in(root: Path) -> list[Path]:
    """Folders under ``root`` that look like submissions (contain qNN folders); ``root`` itself if it does."""
    def looks(p: Path) -> bool:
        return p.is_dir() and any(c.is_dir() and c.name in all_questions() for c in p.iterdir())
    if looks(root):
        return [root]
    subs = []
    for p in sorted(root.iterdir()):
        if looks(p):
            subs.append(p)
        elif p.is_dir() and looks(p / "exercises"):
            subs.append(p / "exercises")
    return subs


def _name(sub: Path) -> str:
    return sub.parent.name if sub.name == "exercises" else sub.name


def grade_many(root: Path, *, jobs: int, out: Path, timing: bool = True, isolate: bool = True) -> int:
    subs = submissions_in(root)
    if not subs:
        print(f"llmgrade: no submissions under {root} (folders containing qNN/ folders)", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    (out / "reports").mkdir(exist_ok=True)
    lock = threading.Lock()
    state = {s: (0, 0) for s in subs}
    bar = Bar(f"grading {len(subs)} submissions")

    def show():
        done = sum(d for d, _ in state.values())
        total = sum(t for _, t in state.values()) or 1
        finished = sum(1 for s in subs if (out / "reports" / f"{_name(s)}.json").exists())
        bar.update(done, max(total, done), f"{finished}/{len(subs)} submissions done")

    def run(sub: Path) -> tuple[Path, dict | None, str]:
        report_path = out / "reports" / f"{_name(sub)}.json"
        report_path.unlink(missing_ok=True)
        cmd = [sys.executable, "-m", "grader.cli", "grade", str(sub), "--quiet", "--progress-lines",
               "--json", str(report_path)]
        if not timing:
            cmd.append("--no-timing")
        if not isolate:
            cmd.append("--no-isolate")
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for line in proc.stdout:  # "PROGRESS done total"
            if line.startswith("PROGRESS "):
                _, d, t = line.split()
                with lock:
                    state[sub] = (int(d), int(t))
                    show()
        err = proc.stderr.read()
        proc.wait()
        if proc.returncode != 0 or not report_path.exists():
            return sub, None, err.strip()[-500:] or f"exit code {proc.returncode}"
        return sub, json.loads(report_path.read_text(encoding="utf-8")), ""

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max(1, jobs)) as pool:
        results = list(pool.map(run, subs))
    bar.close()
    qids = [q for q in all_questions()]
    rows = []
    for sub, rep, err in results:
        row = {"candidate": _name(sub), "score": rep["score"] if rep else "", "max_score": rep["max_score"] if rep else "",
               "error": err}
        for q in qids:
            row[q] = rep["questions"][q]["points"] if rep and q in rep["questions"] else ""
        rows.append(row)
    with open(out / "summary.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["candidate", "score", "max_score", *qids, "error"])
        w.writeheader()
        w.writerows(rows)
    (out / "summary.html").write_text(_html(rows, qids, results), encoding="utf-8")
    print(f"graded {len(subs)} submissions in {time.perf_counter() - t0:.1f}s with -j {jobs}: "
          f"{out / 'summary.csv'}, {out / 'summary.html'}")
    for row in rows:
        print(f"  {row['candidate']:<24} {row['score'] if row['score'] != '' else 'ERROR':>8} / {row['max_score']}"
              + (f"  ({row['error'][:80]})" if row["error"] else ""))
    return 0 if all(rep is not None for _, rep, _ in results) else 1


def _html(rows: list[dict], qids: list[str], results) -> str:
    def cell(v, mx):
        if v == "":
            return "<td class=na>–</td>"
        frac = float(v) / mx if mx else 0
        hue = int(120 * frac)
        return f"<td style='background:hsl({hue},70%,85%)'>{float(v):.2f}</td>"
    maxes = {q.qid: q.points for q in all_questions().values()}
    head = "".join(f"<th>{q}</th>" for q in qids)
    body = []
    for row in rows:
        cells = "".join(cell(row[q], maxes[q]) for q in qids)
        score = f"{row['score']:.2f} / {row['max_score']:g}" if row["score"] != "" else "error"
        err = f"<div class=err>{html.escape(row['error'])}</div>" if row["error"] else ""
        body.append(f"<tr><th>{html.escape(row['candidate'])}{err}</th><td><b>{score}</b></td>{cells}</tr>")
    return ("<!doctype html><meta charset=utf-8><title>Grades</title><style>"
            "body{font-family:sans-serif}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 6px;"
            "text-align:right}th{text-align:left}.na{color:#999}.err{color:#b00;font-size:80%}</style>"
            f"<h1>Grades</h1><table><tr><th>candidate</th><th>score</th>{head}</tr>{''.join(body)}</table>"
            "<p>Per question: points earned (green = full marks). Per-candidate JSON reports are in reports/.</p>")
