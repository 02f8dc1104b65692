"""The Gradescope autograder (grader/gradescope.py): the zip `llmgrade gradescope-bundle` writes, laid out
under a temporary AUTOGRADER_ROOT as Gradescope lays it out, and run_autograder run on the references
(full marks), the stubs (0) and a partial upload; results.json checked against a JSON schema of
Gradescope's fields (qa/gradescope_results.schema.json); setup.sh checked for syntax and for naming
packages that exist. One bundle for the module, one grading run per case.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from grader import gradescope
from grader.questions import PROJECT_ROOT, all_questions, get

SCHEMA = Path(__file__).with_name("gradescope_results.schema.json")
QUESTIONS = [q for q in all_questions().values() if (PROJECT_ROOT / "tests" / q.qid).is_dir()]
STUB_QUESTIONS = ["q20", "q24", "q31", "q36", "q39"]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("gradescope") / "autograder.zip"
    proc = subprocess.run([sys.executable, "-m", "grader.cli", "gradescope-bundle", str(out)], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return out


def lay_out(bundle: Path, root: Path, files: dict[str, bytes]) -> Path:
    """$root/source = the unzipped bundle (modes kept), $root/submission = ``files``."""
    with zipfile.ZipFile(bundle) as z:
        for info in z.infolist():
            target = root / "source" / info.filename
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(z.read(info))
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                target.chmod(mode)
    for name, data in files.items():
        (root / "submission" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "submission" / name).write_bytes(data)
    (root / "submission").mkdir(parents=True, exist_ok=True)
    return root


def run_autograder(root: Path, *args: str) -> tuple[dict, float, str]:
    """Run $root/source/run_autograder as Gradescope does (working directory $root); (results, seconds, log)."""
    env = dict(os.environ, AUTOGRADER_ROOT=str(root), LLMGRADE_PYTHON=sys.executable)
    t0 = time.perf_counter()
    proc = subprocess.run([str(root / "source" / "run_autograder"), *args], cwd=root, env=env,
                          capture_output=True, text=True, timeout=1200)
    seconds = time.perf_counter() - t0
    assert proc.returncode == 0, f"run_autograder failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    results = root / "results" / "results.json"
    assert results.is_file(), proc.stdout
    return json.loads(results.read_text(encoding="utf-8")), seconds, proc.stdout


def check_schema(data: dict) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(data, json.loads(SCHEMA.read_text(encoding="utf-8")))


def part_tests(data: dict) -> list[dict]:
    return [t for t in data["tests"] if t["max_score"] > 0]


def check_common(data: dict, root: Path, qids: list[str]) -> None:
    check_schema(data)
    # the bundle's own copy of the grader graded it (not the project this test runs from)
    assert data["extra_data"]["llmgrade"]["grader"] == str((root / "source").resolve())
    # one test per rubric part of each question, the points adding up to the question's
    for qid in qids:
        mine = [t for t in part_tests(data) if t["name"].startswith(f"{qid} ")]
        assert len(mine) >= 2, qid
        assert sum(t["max_score"] for t in mine) == pytest.approx(get(qid).points), qid
    # hidden-test details only after the grades are published (the default); the narrative never
    assert {t["visibility"] for t in part_tests(data)} == {"after_published"}
    assert [t["visibility"] for t in data["tests"] if t["max_score"] == 0] == ["hidden"]
    assert "visibility" not in data  # the top-level output and score: visible (what was not found)
    assert data["stdout_visibility"] == "hidden"
    assert data["score"] == pytest.approx(sum(t["score"] for t in data["tests"]), abs=1e-3)
    if os.geteuid() == 0:  # the references and hidden suites are unreadable to the worker's own uid
        for d in ("solutions", "tests"):
            assert not stat.S_IMODE((root / "source" / d).stat().st_mode) & 0o077, d


def test_bundle_has_gradescope_layout(bundle):
    with zipfile.ZipFile(bundle) as z:
        names = z.namelist()
        modes = {i.filename: (i.external_attr >> 16) & 0o777 for i in z.infolist()}
    assert modes["setup.sh"] & 0o111 and modes["run_autograder"] & 0o111, "both scripts executable, at the top"
    tops = {n.split("/")[0] for n in names}
    assert tops == {"setup.sh", "run_autograder", "bundle.json", "grader", "tests", "solutions", "exercises",
                    "pyproject.toml", "README.md", "scripts"}, tops
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    for q in QUESTIONS:
        assert f"solutions/{q.qid}/{q.filename}" in names and f"exercises/{q.qid}/{q.filename}" in names


@pytest.mark.timeout(1200)
def test_references_score_full_marks(bundle, tmp_path):
    """The references, uploaded as one zip of an exercises/ folder (qNN/<module>.py inside)."""
    upload = tmp_path / "exercises.zip"
    with zipfile.ZipFile(upload, "w") as z:
        for q in QUESTIONS:
            z.write(PROJECT_ROOT / "solutions" / q.qid / q.filename, f"exercises/{q.qid}/{q.filename}")
    root = lay_out(bundle, tmp_path / "autograder", {"exercises.zip": upload.read_bytes()})
    data, seconds, log = run_autograder(root)
    print(f"run_autograder on the references: {seconds:.0f} s")
    check_common(data, root, [q.qid for q in QUESTIONS])
    total = sum(q.points for q in QUESTIONS)
    assert data["score"] == pytest.approx(total), [t["name"] for t in part_tests(data) if t["score"] < t["max_score"]]
    assert all(t["status"] == "passed" and t["score"] == t["max_score"] for t in part_tests(data))
    assert f"Score: {total:.2f} / {total:g}" in data["output"] and "NOT FOUND" not in data["output"]
    assert data["extra_data"]["llmgrade"]["missing"] == []
    assert 0 < data["execution_time"] <= seconds + 1


@pytest.mark.timeout(600)
def test_stubs_score_zero(bundle, tmp_path):
    """The untouched stubs, uploaded flat as qNN_<module>.py, on five questions (those with two modules
    among them) and without the timing tests, to keep it cheap: every stub's 0 on every question is
    qa/test_cli.py's and qa/test_verdicts.py's; this is the path through Gradescope's layout."""
    some = [get(q) for q in STUB_QUESTIONS]
    files = {f"{q.qid}_{q.filename}": (PROJECT_ROOT / "exercises" / q.qid / q.filename).read_bytes() for q in some}
    root = lay_out(bundle, tmp_path / "autograder", files)
    data, _, _ = run_autograder(root, "--no-timing", "--only", ",".join(STUB_QUESTIONS))
    check_common(data, root, STUB_QUESTIONS)
    assert data["score"] == 0 and all(t["score"] == 0 for t in data["tests"])
    said = [t for t in part_tests(data) if t["output"]]  # (a part of timing tests alone ran none here)
    assert len(said) >= 2 * len(some) and all("not implemented yet" in t["output"] for t in said), \
        "the friendly stub message"
    assert sorted(data["extra_data"]["llmgrade"]["found"]) == STUB_QUESTIONS


@pytest.mark.timeout(600)
def test_partial_upload_says_what_was_not_found(bundle, tmp_path):
    """q21 solved (uploaded as causal_mask.py alone), q22 the stub in a q22/ folder, q23 not uploaded."""
    files = {"causal_mask.py": (PROJECT_ROOT / "solutions" / "q21" / "causal_mask.py").read_bytes(),
             "q22/attention.py": (PROJECT_ROOT / "exercises" / "q22" / "attention.py").read_bytes(),
             "helper.py": b"x = 1\n", "notes.txt": b"my notes\n"}
    root = lay_out(bundle, tmp_path / "autograder", files)
    data, _, _ = run_autograder(root, "--only", "q21,q22,q23")
    check_common(data, root, ["q21", "q22", "q23"])
    assert data["score"] == pytest.approx(get("q21").points), [(t["name"], t["score"], t["output"]) for t in data["tests"]]
    assert 0 < data["score"] < sum(get(q).points for q in ("q21", "q22", "q23"))
    out = data["output"]
    assert re.search(r"NOT FOUND.*q23 kv_cache\.py", out), out
    assert "q21 (causal_mask.py)" in out and "q22 (q22/attention.py)" in out
    assert "helper.py" in out  # said what was not used, and why
    q23 = [t for t in part_tests(data) if t["name"].startswith("q23 ")]
    assert all(t["score"] == 0 and "missing" in t["output"] for t in q23)


def test_collect_accepts_what_candidates_upload(tmp_path):
    """No grading: which uploaded file becomes which question's module, and what is said about the rest."""
    up, dest = tmp_path / "up", tmp_path / "dest"
    up.mkdir()
    (up / "q21-causal_mask.py").write_text("a = 1\n")
    (up / "causal_mask.py").write_text("b = 2\n")                      # less explicit: not taken
    (up / "q20.py").write_text("stop = 1\n")
    (up / "tiny_gpt.py").write_text("given = 1\n")                    # q24's given module
    (up / "q99_x.py").write_text("")
    (up / "q22_attn.py").write_text("")                               # the wrong module name
    (up / "test_causal_mask.py").write_text("")                       # a self-check: silently left out
    (up / ".hidden.py").write_text("")
    (up / "residual.py").symlink_to(PROJECT_ROOT / "solutions" / "q25" / "residual.py")  # not followed
    with zipfile.ZipFile(up / "more.zip", "w") as z:
        z.writestr("my work/exercises/q36/flash_attention.py", "flash = 1\n")
        z.writestr("__MACOSX/q37/rope.py", "junk\n")
        z.writestr("../q38/packing.py", "escape = 1\n")                # a name climbing out: refused
    (up / "broken.zip").write_bytes(b"not a zip")
    got = gradescope.collect(up, dest)
    assert (dest / "q21" / "causal_mask.py").read_text() == "a = 1\n"
    assert (dest / "q20" / "stopping.py").read_text() == "stop = 1\n"
    assert (dest / "q36" / "flash_attention.py").read_text() == "flash = 1\n"
    assert set(got.found) == {"q20", "q21", "q36"}, got.found
    assert {"q22", "q25", "q37", "q38"} <= set(got.missing)
    why = dict(got.ignored)
    assert "q22's module is attention.py" in why["q22_attn.py"]
    assert "q99" in why["q99_x.py"] and "own copy" in why["tiny_gpt.py"]
    assert any("q21: 2 files fit" in n for n in got.notes) and any("broken.zip" in n for n in got.notes)
    assert any("residual.py: a symbolic link" in n for n in got.notes)
    written = {p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()}
    assert written == {"q20/stopping.py", "q21/causal_mask.py", "q36/flash_attention.py"}
    assert not (tmp_path / "q38").exists()


def test_setup_script_is_valid_bash_and_names_packages_that_exist(bundle, tmp_path):
    with zipfile.ZipFile(bundle) as z:
        setup, run = z.read("setup.sh").decode(), z.read("run_autograder").decode()
    for name, text in (("setup.sh", setup), ("run_autograder", run)):
        (tmp_path / name).write_text(text)
        proc = subprocess.run(["bash", "-n", str(tmp_path / name)], capture_output=True, text=True)
        assert proc.returncode == 0, f"{name}: {proc.stderr}"
    apt = sorted({w for line in re.findall(r"apt-get install ([^\n]+)", setup) for w in line.split()
                  if not w.startswith("-")})
    assert set(apt) == set(gradescope.APT_PACKAGES) | set(gradescope.APT_PYTHON311), apt
    assert "python3.11" in apt and "torch" in setup and "download.pytorch.org/whl/cpu" in setup
    # apt: the local package lists (Debian here; Gradescope's image is Ubuntu, whose archive has the same names)
    if not shutil.which("apt-cache") or not any(Path("/var/lib/apt/lists").glob("*Packages*")):
        pytest.skip("no apt package lists on this machine (run apt-get update) to look the packages up in")
    out = subprocess.run(["apt-cache", "policy", *apt], capture_output=True, text=True).stdout  # one call: ~2 s
    candidates = dict(re.findall(r"(?m)^(\S+):\n\s+Installed: .*\n\s+Candidate: (\S+)", out))
    for name in apt:
        assert candidates.get(name, "(none)") != "(none)", f"setup.sh installs {name}, which apt does not know:\n{out}"
    import tomllib
    deps = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    # pip: the project's own dependencies are installed here, from the registries (so they exist there);
    # torch, which setup.sh names itself, is looked up with pip in the configured registries (one process)
    # and on PyTorch's CPU index where this machine reaches it (another, at the same time)
    from concurrent.futures import ThreadPoolExecutor
    from importlib.metadata import version

    for name in [re.split(r"[<>=!~ ;\[]", d)[0] for d in deps] + list(gradescope.PIP_PACKAGES):
        assert version(name), name

    def lookup(index: str | None) -> tuple[str | None, subprocess.CompletedProcess]:
        cmd = [sys.executable, "-m", "pip", "index", "versions", "torch", "--disable-pip-version-check",
               "--retries", "0", "--timeout", "15"]
        env = dict(os.environ)
        if index:  # that index alone: no local wheels, no extra indexes
            cmd += ["--index-url", index]
            env = {k: v for k, v in env.items() if k not in ("PIP_FIND_LINKS", "PIP_EXTRA_INDEX_URL")}
            env["PIP_CONFIG_FILE"] = os.devnull
        return index, subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)

    with ThreadPoolExecutor(2) as pool:
        found = list(pool.map(lookup, [None, gradescope.TORCH_CPU_INDEX]))
    for index, proc in found:
        ok = proc.returncode == 0 and re.search(r"(?im)^torch \(", proc.stdout)
        if not ok and index is None:
            if re.search(r"connection|resolve|network|timed out|proxy", proc.stderr, re.I):
                pytest.skip(f"the package registry is unreachable: {proc.stderr.strip()[-200:]}")
            pytest.fail(f"pip finds no torch in the configured registries: {proc.stdout}{proc.stderr}")
        if not ok:  # this machine reaches only some registries: say so, do not fail
            import warnings
            warnings.warn(f"torch's CPU index {index} did not answer from this machine: "
                          f"{proc.stderr.strip().splitlines()[-1:]}")
