"""grade-many: every submission under a folder, graded in parallel, locally or on a Dask cluster.

Each submission is graded by its own ``llmgrade grade`` process (``grade_folder``), so a broken one
never takes the others down, and its code runs in the isolated worker as in a single grade.

* Locally (the default) ``-j N`` such processes run at once on this machine.
* With ``--scheduler ADDRESS`` each submission becomes one task on a Dask distributed cluster
  (``pip install '.[dask]'``). The task (``grade_on_node``) receives the submission's files as
  plain bytes, writes them into a temporary folder on the node that runs it, calls the same
  ``grade_folder`` there and sends back the report as JSON text: only builtin data (bytes, str)
  crosses the network, never a pickled object of ours. Dask was chosen over a hand-written
  fan-out because it already does the scheduling, the retries on lost nodes, the dashboard and
  the deployment (SSH, Kubernetes, HPC job queues, cloud).

Either way the results are the same reports, written to ``OUT/reports/<candidate>.json``, and the
same summary (``grader.summary``): ``summary.csv`` and ``summary.html``.

Progress: one live bar in a terminal (submissions done / total, elapsed, the ones being graded
with their tests done), one line per finished candidate otherwise.
"""
from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

from .progressbar import Bar
from .questions import PROJECT_ROOT, all_questions

# what a submission may send to a cluster node: its regular files, never symlinks (a link would
# carry the target's content, which may be anything on the interviewer's machine)
MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_SUBMISSION_BYTES = 20 * 1024 * 1024
_SKIP_DIRS = {"__pycache__", ".git", ".ipynb_checkpoints", ".pytest_cache"}


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


def candidate_name(sub: Path) -> str:
    return sub.parent.name if sub.name == "exercises" else sub.name


# --- one submission, on whichever node runs it ------------------------------------------------

def grade_folder(sub: Path, report_path: Path, *, only: list[str] | None = None, timing: bool = True,
                 isolate: bool = True, on_progress: Callable[[int, int], None] | None = None) -> tuple[str, str]:
    """Grade ``sub`` with its own ``llmgrade grade`` process; return (report JSON text or "", error).

    ``on_progress(done, total)`` is called after each hidden test."""
    sub, report_path = Path(sub).resolve(), Path(report_path).resolve()
    report_path.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "grader.cli", "grade", str(sub), "--quiet", "--progress-lines",
           "--json", str(report_path)]
    if only:
        cmd += ["--only", ",".join(only)]
    if not timing:
        cmd.append("--no-timing")
    if not isolate:
        cmd.append("--no-isolate")
    with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True, cwd=PROJECT_ROOT)
        for line in proc.stdout:  # "PROGRESS done total" after each test
            if line.startswith("PROGRESS ") and on_progress:
                _, d, t = line.split()
                on_progress(int(d), int(t))
        proc.wait()
        err.seek(0)
        stderr = err.read()
    if proc.returncode != 0 or not report_path.exists():
        return "", stderr.strip()[-500:] or f"llmgrade grade exited with code {proc.returncode}"
    return report_path.read_text(encoding="utf-8"), ""


def pack(sub: Path) -> tuple[dict[str, bytes], list[str]]:
    """The submission's regular files as {relative posix path: bytes}, and what was left out (why)."""
    files: dict[str, bytes] = {}
    left: list[str] = []
    total = 0
    for path in sorted(sub.rglob("*")):
        rel = path.relative_to(sub)
        if any(part in _SKIP_DIRS for part in rel.parts):
            continue
        if path.is_symlink():
            left.append(f"{rel.as_posix()}: a symbolic link (not sent)")
            continue
        if not path.is_file():
            continue
        size = path.stat().st_size
        if size > MAX_FILE_BYTES or total + size > MAX_SUBMISSION_BYTES:
            left.append(f"{rel.as_posix()}: {size} bytes, over the limit (not sent)")
            continue
        files[rel.as_posix()] = path.read_bytes()
        total += size
    return files, left


PROGRESS_TOPIC = "llmgrade-progress"


def fingerprint(root: Path = PROJECT_ROOT) -> str:
    """A digest of what decides a grade here: the grader, its rubrics, the hidden suites and the
    references. Every node must have the client's, or the same submission could grade differently."""
    h = hashlib.sha256()
    for top in ("grader", "tests", "solutions"):
        for path in sorted((root / top).rglob("*")):
            if path.suffix in (".py", ".toml") and path.is_file() and "__pycache__" not in path.parts:
                h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def _worker_address() -> str:
    try:
        from distributed import get_worker
        return get_worker().address
    except Exception:  # noqa: BLE001 - not in a Dask worker
        return ""


def _tell(event: dict) -> None:
    """Send a progress event ({"name", "done", "total"}) to the client, if this runs as a Dask task."""
    try:
        from distributed import get_worker
        get_worker().log_event(PROGRESS_TOPIC, event)
    except Exception:  # noqa: BLE001 - not in a Dask worker, or the scheduler is gone: progress only
        pass


def grade_on_node(name: str, files: dict[str, bytes], only: list[str] | None, timing: bool,
                  isolate: bool, expected: str = "") -> str:
    """A Dask task: lay ``files`` out in a temporary folder on this node, grade it with
    ``grade_folder`` and return JSON text {"report": <report JSON text or "">, "error": str, "node": str}.
    Never raises for a submission's fault, so a bad submission is a row of the summary, not a lost task.
    Progress goes to the client as worker events ({"name", "done", "total"}, at most one a second).
    ``expected`` is the client's ``fingerprint()``: a node with another version refuses to grade."""
    node = socket.gethostname()
    where = _worker_address()
    node = f"{node} ({where})" if where else node
    mine = fingerprint()
    if expected and mine != expected:
        return json.dumps({"report": "", "node": node, "error": (
            f"{node} has another version of the grader, hidden tests or references ({mine}, the client has "
            f"{expected}): install the same copy of the project on every node and restart its workers")})
    _tell({"name": name, "done": 0, "total": 0})
    last = [0.0]

    def on_progress(done: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] >= 1.0 or done == total:
            last[0] = now
            _tell({"name": name, "done": done, "total": total})

    try:
        with tempfile.TemporaryDirectory(prefix="llmgrade-") as tmp:
            root = Path(tmp) / "submission"
            for rel, data in files.items():
                dest = (root / rel).resolve()
                if root.resolve() not in dest.parents:
                    raise ValueError(f"{rel!r} is outside the submission")
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(data)
            root.mkdir(exist_ok=True)
            text, err = grade_folder(root, Path(tmp) / "report.json", only=only, timing=timing, isolate=isolate,
                                     on_progress=on_progress)
    except Exception as e:  # noqa: BLE001 - reported in the summary
        text, err = "", f"{type(e).__name__} on {node}: {e}"
    return json.dumps({"report": text, "error": err, "node": node})


# --- the batch ----------------------------------------------------------------------------------

class _Progress:
    """The state behind the bar: per submission (tests done, tests total); which are running."""

    def __init__(self, names: list[str], bar: Bar):
        self.names = names
        self.bar = bar
        self.lock = threading.Lock()
        self.tests: dict[str, tuple[int, int]] = {}
        self.running: set[str] = set()
        self.ended: set[str] = set()
        self.finished = 0

    def show(self) -> None:
        if not self.bar.tty:  # elsewhere (CI logs, pipes): only the one line per finished candidate
            return
        with self.lock:
            now = [f"{n} {self.tests[n][0]}/{self.tests[n][1]}" if self.tests.get(n, (0, 0))[1] else n
                   for n in self.names if n in self.running]
            detail = ("grading: " + ", ".join(now)) if now else ""
            done, total = self.finished, len(self.names)
        self.bar.update(done, total, detail)

    def start(self, name: str) -> None:
        with self.lock:
            if name in self.ended:
                return
            self.running.add(name)
        self.show()

    def tests_done(self, name: str, done: int, total: int) -> None:
        with self.lock:
            if name in self.ended:  # a late event from a cluster node
                return
            self.tests[name] = (done, total)
            self.running.add(name)
        if self.bar.tty:
            self.show()

    def finish(self, name: str, rep: dict | None, err: str, seconds: float, where: str = "") -> None:
        with self.lock:
            self.running.discard(name)
            self.ended.add(name)
            self.finished += 1
            n = self.finished
        width = len(str(len(self.names)))
        if rep is not None:
            what = f"{rep['score']:.2f} / {rep['max_score']:g}"
            flags = len(rep.get("integrity", []))
            if flags:
                what += f", {flags} integrity flag{'s' if flags > 1 else ''} to review"
        else:
            what = f"ERROR: {(err.splitlines() or ['?'])[-1][:100]}"
        self.bar.line(f"[{n:>{width}}/{len(self.names)}] {name}: {what} ({seconds:.0f}s{where})")
        self.show()


def _ticker(progress: _Progress, stop: threading.Event) -> None:
    while not stop.wait(1.0):
        progress.bar.tick()


def _grade_locally(subs: list[Path], names: list[str], out: Path, jobs: int, opts: dict,
                   progress: _Progress) -> dict[str, tuple[dict | None, str]]:
    results: dict[str, tuple[dict | None, str]] = {}

    def run(i: int) -> None:
        sub, name = subs[i], names[i]
        progress.start(name)
        t0 = time.perf_counter()
        text, err = grade_folder(sub, out / "reports" / f"{name}.json", **opts,
                                 on_progress=lambda d, t: progress.tests_done(name, d, t))
        rep = json.loads(text) if text else None
        if rep is not None:
            rep["graded_on"] = socket.gethostname()
        results[name] = (rep, err)
        progress.finish(name, rep, err, time.perf_counter() - t0)

    with ThreadPoolExecutor(max(1, jobs)) as pool:
        list(pool.map(run, range(len(subs))))
    return results


def _grade_on_dask(subs: list[Path], names: list[str], scheduler: str, opts: dict,
                   progress: _Progress) -> dict[str, tuple[dict | None, str]]:
    from distributed import Client, wait

    results: dict[str, tuple[dict | None, str]] = {}
    started: dict[str, float] = {}

    def on_event(event) -> None:  # (timestamp, {"name", "done", "total"}) from grade_on_node
        msg = event[1]
        name = msg.get("name") if isinstance(msg, dict) else None
        if name not in names:
            return
        if name not in started:
            started[name] = time.perf_counter()
            progress.start(name)
        if msg.get("total"):
            progress.tests_done(name, int(msg["done"]), int(msg["total"]))

    mine = fingerprint()
    try:
        client = Client(scheduler, timeout=20)
    except (OSError, TimeoutError) as e:
        raise _NoCluster(f"cannot reach the Dask scheduler at {scheduler}: {e}") from None
    with client:
        client.subscribe_topic(PROGRESS_TOPIC, on_event)
        futures = {}
        for sub, name in zip(subs, names):
            files, left = pack(sub)
            for why in left:
                progress.bar.line(f"  {name}: {why}")
            fut = client.submit(grade_on_node, name, files, opts["only"], opts["timing"], opts["isolate"], mine,
                                key=f"llmgrade-{name}-{os.urandom(4).hex()}", pure=False, retries=1)
            futures[fut.key] = (fut, name, time.perf_counter())
        pending = {f for f, _, _ in futures.values()}
        while pending:
            try:
                wait(pending, timeout=1.0, return_when="FIRST_COMPLETED")
            except TimeoutError:
                pass
            for fut in [f for f in pending if f.done()]:
                pending.discard(fut)
                _, name, submitted = futures[fut.key]
                try:
                    answer = json.loads(fut.result())
                    rep = json.loads(answer["report"]) if answer["report"] else None
                    err, node = answer["error"], answer["node"]
                except Exception as e:  # noqa: BLE001 - a lost task is that candidate's error row
                    rep, err, node = None, f"the Dask task failed: {type(e).__name__}: {e}", "?"
                if rep is not None:
                    rep["graded_on"] = node
                results[name] = (rep, err)
                progress.finish(name, rep, err, time.perf_counter() - started.get(name, submitted),
                                f" on {node}")
        client.unsubscribe_topic(PROGRESS_TOPIC)
    return results


class _NoCluster(Exception):
    pass


def grade_many(root: Path, *, jobs: int, out: Path, timing: bool = True, isolate: bool = True,
               only: list[str] | None = None, scheduler: str | None = None, stream=None,
               extras: Callable | None = None) -> int:
    """Grade every submission under ``root``; write OUT/reports/*.json, summary.csv and summary.html.

    ``extras(entries) -> (sections, per_candidate)`` may add sections to the HTML summary (see
    ``grader.summary.write_summary``). Returns 0 if every submission was graded, 1 if some could not
    be, 2 if there was nothing to grade."""
    from . import summary

    subs = submissions_in(root)
    if not subs:
        print(f"llmgrade: no submissions under {root} (folders containing qNN/ folders)", file=sys.stderr)
        return 2
    if scheduler:
        try:
            import distributed  # noqa: F401
        except ImportError:
            print("llmgrade grade-many --scheduler needs Dask distributed: pip install -e '.[dask]' "
                  "(here and on every node of the cluster)", file=sys.stderr)
            return 2
    names = [candidate_name(s) for s in subs]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        print(f"llmgrade: two submissions have the same name: {', '.join(dup)}", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    (out / "reports").mkdir(exist_ok=True)
    where = f"on {scheduler}" if scheduler else f"here, {max(1, jobs)} at a time"
    bar = Bar("graded", stream=stream)
    bar.line(f"grading {len(subs)} submissions {where}")
    progress = _Progress(names, bar)
    progress.show()
    stop = threading.Event()
    threading.Thread(target=_ticker, args=(progress, stop), daemon=True).start()
    opts = {"only": only, "timing": timing, "isolate": isolate}
    t0 = time.perf_counter()
    try:
        if scheduler:
            try:
                results = _grade_on_dask(subs, names, scheduler, opts, progress)
            except _NoCluster as e:
                print(f"llmgrade: {e}", file=sys.stderr)
                return 2
        else:
            results = _grade_locally(subs, names, out, jobs, opts, progress)
    finally:
        stop.set()
        bar.close()
    seconds = time.perf_counter() - t0
    entries = []
    for sub, name in zip(subs, names):
        rep, err = results.get(name, (None, "not graded"))
        if rep is not None:
            rep["submission"] = str(sub.resolve())  # the interviewer's path, wherever it was graded
            (out / "reports" / f"{name}.json").write_text(json.dumps(rep, indent=2, ensure_ascii=False),
                                                          encoding="utf-8")
        else:  # no stale report of an earlier run beside this summary
            (out / "reports" / f"{name}.json").unlink(missing_ok=True)
        entries.append({"candidate": name, "report": rep, "error": err})
    sections, per_candidate = extras(entries) if extras else ((), None)
    summary.write_summary(out, entries, sections=sections, per_candidate=per_candidate,
                          note=f"graded {where} in {seconds:.0f} s")
    print(f"graded {len(subs)} submissions {where} in {seconds:.1f}s: {out / 'summary.csv'}, "
          f"{out / 'summary.html'}")
    for e in entries:
        rep = e["report"]
        score = f"{rep['score']:.2f} / {rep['max_score']:g}" if rep else "ERROR"
        print(f"  {e['candidate']:<24} {score:>16}" + (f"  ({e['error'][:80]})" if e["error"] else ""))
    return 0 if all(e["report"] is not None for e in entries) else 1
