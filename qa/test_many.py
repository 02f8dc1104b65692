"""grade-many: locally and on a real Dask cluster (a scheduler and two workers on 127.0.0.1), the same
CSV; progress as lines when not a terminal, a bar in one; the HTML summary in headless Chromium.

Four submissions (the references, the stubs, and two partial copies), two fast questions (q20, q21),
no timing tests: the local run (-j 2) and the Dask run go at the same time, about 30 s together.
"""
from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grader import many, summary
from grader.progressbar import Bar
from grader.questions import PROJECT_ROOT, get

ONLY = "q20,q21"
NAMES = {"refs", "stubs", "mask_no_past", "stop_stub"}


def _submissions(root: Path) -> Path:
    subs = root / "subs"
    for name in NAMES:
        for q in ONLY.split(","):
            src = "exercises" if (name == "stubs" or (name == "stop_stub" and q == "q20")) else "solutions"
            shutil.copytree(PROJECT_ROOT / src / q, subs / name / q, ignore=shutil.ignore_patterns("__pycache__"))
    # one rubric part wrong: the mask ignores past_len (mutants/q21.toml: ignores_past_len)
    f = subs / "mask_no_past" / "q21" / get("q21").filename
    text = f.read_text(encoding="utf-8")
    assert text.count("return j <= past_len + i") == 1
    f.write_text(text.replace("return j <= past_len + i", "return j <= i"), encoding="utf-8")
    return subs


def _stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:  # each in its own session: its whole process group goes
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=10)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A Dask scheduler and two workers on 127.0.0.1 (random free ports); yields the scheduler's address."""
    pytest.importorskip("distributed", reason="Dask distributed is the 'dask' extra (pip install -e '.[dask]')")
    from distributed import Client

    tmp = tmp_path_factory.mktemp("dask")
    sched_file = tmp / "scheduler.json"
    cli = Path(sys.executable).with_name("dask")  # the `dask` command of this environment
    dask, worker = [str(cli), "scheduler"], [str(cli), "worker"]
    procs: list[subprocess.Popen] = []
    logs = []

    def start(cmd, log):
        logs.append(open(tmp / log, "w"))
        procs.append(subprocess.Popen(cmd, stdout=logs[-1], stderr=subprocess.STDOUT, cwd=tmp,
                                      start_new_session=True))

    try:
        start(dask + ["--host", "127.0.0.1", "--port", "0", "--no-dashboard", "--scheduler-file", str(sched_file)],
              "scheduler.log")
        deadline = time.monotonic() + 60
        while not sched_file.exists() or not sched_file.read_text():
            assert procs[0].poll() is None, (tmp / "scheduler.log").read_text()
            assert time.monotonic() < deadline, "the Dask scheduler did not start in 60 s"
            time.sleep(0.2)
        address = json.loads(sched_file.read_text())["address"]
        for i in range(2):
            start(worker + [address, "--host", "127.0.0.1", "--nthreads", "1", "--no-nanny", "--no-dashboard",
                            "--name", f"w{i}"], f"worker{i}.log")
        with Client(address, timeout=30) as c:
            c.wait_for_workers(2, timeout=60)
        yield address
    finally:
        _stop(procs[::-1])
        for f in logs:
            f.close()


@pytest.fixture(scope="module")
def runs(cluster, tmp_path_factory):
    """grade-many on the four submissions, locally (-j 2) and through the cluster, at the same time."""
    root = tmp_path_factory.mktemp("many")
    subs = _submissions(root)
    common = [sys.executable, "-m", "grader.cli", "grade-many", str(subs), "--only", ONLY, "--no-timing",
              "--no-similarity"]  # similarity has its own tests (qa/test_similarity.py)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    local = subprocess.Popen(common + ["-j", "2", "--out", str(root / "local")], cwd=PROJECT_ROOT, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    dask = subprocess.Popen(common + ["--scheduler", cluster, "--out", str(root / "dask")], cwd=PROJECT_ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out = {name: p.communicate(timeout=300) for name, p in (("local", local), ("dask", dask))}
    finally:
        _stop([local, dask])
    for name, p in (("local", local), ("dask", dask)):
        # "another version of the grader": grader/, tests/ or solutions/ changed during the run (an edit in
        # a shared working tree); the workers refuse then, as they should
        assert p.returncode == 0, f"{name}: {out[name][1][-3000:]}"
    return {name: {"out": root / name, "stdout": out[name][0], "stderr": out[name][1]} for name in out}


def _csv(path: Path) -> list[dict]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def test_the_local_run_grades_each_submission(runs):
    rows = {r["candidate"]: r for r in _csv(runs["local"]["out"] / "summary.csv")}
    assert set(rows) == NAMES
    assert float(rows["refs"]["score"]) == 10 and float(rows["stubs"]["score"]) == 0
    assert float(rows["stop_stub"]["q20"]) == 0 and float(rows["stop_stub"]["q21"]) == 5
    assert float(rows["mask_no_past"]["q20"]) == 5 and 0 < float(rows["mask_no_past"]["q21"]) < 5
    assert [c for c in rows["refs"]] == ["candidate", "score", "max_score", "q20", "q21", "integrity_flags", "error"]


def test_dask_gives_the_same_csv_and_reports_as_the_local_run(runs):
    local, dask = runs["local"]["out"], runs["dask"]["out"]
    assert (dask / "summary.csv").read_text(encoding="utf-8") == (local / "summary.csv").read_text(encoding="utf-8")
    workers = set()
    for name in NAMES:
        a = json.loads((local / "reports" / f"{name}.json").read_text(encoding="utf-8"))
        b = json.loads((dask / "reports" / f"{name}.json").read_text(encoding="utf-8"))
        assert a["submission"] == b["submission"]  # the interviewer's path, not the node's temporary one
        for qid in a["questions"]:
            qa_, qb = a["questions"][qid], b["questions"][qid]
            assert [(p["id"], p["points"]) for p in qa_["parts"]] == [(p["id"], p["points"]) for p in qb["parts"]]
            assert [(t["nodeid"], t["status"]) for t in qa_["tests"]] == [(t["nodeid"], t["status"]) for t in qb["tests"]]
        assert "isolated" in b["isolation"] or "namespace" in b["isolation"], b["isolation"]
        workers.add(re.search(r"\((tcp://[^)]+)\)", b["graded_on"]).group(1))
    assert len(workers) == 2, f"both workers should have graded: {workers}"


def test_progress_is_one_line_per_finished_candidate_when_not_a_terminal(runs):
    for name in ("local", "dask"):
        lines = runs[name]["stderr"].strip().splitlines()
        finished = [ln for ln in lines if re.match(r"^\[\d/4\] ", ln)]
        assert len(finished) == 4 and {ln.split("]")[1].split(":")[0].strip() for ln in finished} == NAMES, lines
        assert [int(ln[1]) for ln in finished] == [1, 2, 3, 4]
        assert len(lines) == 5 and lines[0].startswith("grading 4 submissions"), lines  # and nothing else


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_in_a_terminal_shows_done_elapsed_and_the_current_ones():
    stream = _Tty()
    bar = Bar("graded", stream=stream)
    p = many._Progress(["alice", "bob", "carol"], bar)
    p.start("alice")
    p.tests_done("alice", 12, 40)
    p.start("bob")
    p.finish("alice", {"score": 87.5, "max_score": 100, "integrity": []}, "", 41.0)
    p.tests_done("alice", 40, 40)  # a late event after the finish changes nothing
    bar.close()
    screen = stream.getvalue()
    last = screen.split("\r\x1b[2K")[-1]
    assert re.search(r"graded \[#+-+\] 1/3 +\d+\.\ds grading: bob", last), repr(last)
    assert "alice" not in last.split("grading:")[1]
    assert "[1/3] alice: 87.50 / 100 (41s)\n" in screen


def test_a_node_with_another_grader_version_refuses(tmp_path):
    answer = json.loads(many.grade_on_node("x", {"q21/causal_mask.py": b""}, ["q21"], False, True, "0" * 16))
    assert answer["report"] == "" and "another version of the grader" in answer["error"]


def test_only_regular_files_are_sent_to_a_node(tmp_path):
    sub = tmp_path / "sub"
    (sub / "q21").mkdir(parents=True)
    (sub / "q21" / "causal_mask.py").write_text("x = 1\n")
    (sub / "q21" / "ref.py").symlink_to(PROJECT_ROOT / "solutions" / "q21" / get("q21").filename)
    (sub / "q21" / "__pycache__").mkdir()
    (sub / "q21" / "__pycache__" / "c.pyc").write_bytes(b"\0")
    files, left = many.pack(sub)
    assert files == {"q21/causal_mask.py": b"x = 1\n"}
    assert left == ["q21/ref.py: a symbolic link (not sent)"]


# --- the HTML summary ----------------------------------------------------------------------------

def _entries(out: Path) -> list[dict]:
    return summary.load_entries(out)


def test_partial_credit_never_looks_like_full_marks():
    full = summary.colour(1.0)
    for frac in (0.972, 0.9, 0.5, 0.01, 0.0):
        assert summary.colour(frac) != full and "hsl(125" not in summary.colour(frac)
    assert summary.colour(4.86 / 5) != summary.colour(4.5 / 5)


def test_summary_html_has_titles_parts_reasons_flags_and_extra_sections(runs):
    entries = _entries(runs["local"]["out"])
    refs = next(e for e in entries if e["candidate"] == "refs")
    refs["report"]["integrity"] = [{"qid": "q21", "kind": "k", "what": "reads a file", "line": 7,
                                    "detail": "open('/etc/<passwd>')"}]
    page = summary.summary_html(entries, sections=[summary.Section.table("Similar pairs", ["a", "b", "similarity"],
                                                                         [("refs", "mask_no_past", 0.93)])],
                                per_candidate={"stubs": [summary.Section.text("Narrative", "Knows <nothing> yet.")]})
    assert get("q21").title.split(" / ")[0] in page and get("q20").title in page
    m = re.search(r"<tbody data-name='mask_no_past'>(.*?)</tbody>", page, re.S).group(1)
    assert "Where points were lost" in m and "test_rectangular_masks" in m and "differs at" in m
    rep = next(e for e in entries if e["candidate"] == "mask_no_past")["report"]
    lost_parts = [p["id"] for p in rep["questions"]["q21"]["parts"] if p["points"] < p["max_points"]]
    assert lost_parts and all(f"<td>{pid}<div class=pt>" in m for pid in lost_parts)
    assert "Integrity notes" in page and "open(&#x27;/etc/&lt;passwd&gt;&#x27;)" in page and "⚑ 1" in page
    assert "<h2>Similar pairs</h2>" in page and "<td>0.93</td>" in page
    assert "Knows &lt;nothing&gt; yet." in page
    assert "<script" in page and "http" not in page.split("<script>")[1]  # inline, no CDN


def test_summary_renders_and_sorts_in_headless_chromium(runs, tmp_path):
    from grader import summary_browser
    if summary_browser.find_browser() is None:
        pytest.skip("no Chromium here: apt-get install -y chromium-headless-shell")
    page = runs["local"]["out"] / "summary.html"
    dom = summary_browser.dump_dom(page, "#sort=score-desc&open=mask_no_past")
    assert "data-ready=\"1\"" in dom, "the page's script did not run to its end"
    order = re.findall(r'<tbody data-name="(\w+)"', dom)
    assert order[0] == "refs" and order[-1] == "stubs" and set(order) == NAMES
    assert re.search(r'<tbody data-name="mask_no_past" class="open">', dom)
    assert 'class="sorted-desc"' in dom
    assert re.findall(r'<tbody data-name="(\w+)"', summary_browser.dump_dom(page, "#sort=candidate")) == sorted(NAMES)
    from PIL import Image
    png = summary_browser.screenshot(page, tmp_path / "s.png", "#open=mask_no_past", (1100, 700))
    img = Image.open(png).convert("RGB")
    colours = img.getcolors(maxcolors=1 << 20)
    assert img.size == (1100, 700) and len(colours) > 50  # text and colours, not a blank page
    assert any(abs(r - 111) < 25 and g > 180 and b < 140 for _, (r, g, b) in colours), "no full-marks green"
