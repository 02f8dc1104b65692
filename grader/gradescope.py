"""Gradescope: the autograder bundle (``llmgrade gradescope-bundle OUT.zip``) and what runs inside it.

Gradescope's layout (https://gradescope-autograders.readthedocs.io/en/latest/specs/), all under
``$AUTOGRADER_ROOT`` (default ``/autograder``; tests move it):

    source/                 the unzipped bundle: setup.sh, run_autograder, this project (grader/, tests/,
                            solutions/, exercises/, pyproject.toml, scripts/install_torch.py), bundle.json
    submission/             what the candidate uploaded (files, folders, zips)
    results/results.json    what ``run`` writes: one test per rubric part (grader.grading.gradescope_results)
    venv/                   made by setup.sh: Python 3.11+, torch CPU, this grader (editable, from source/)

``run`` (``python -m grader.gradescope``, called by run_autograder) collects the upload into a folder
shaped like exercises/ (``collect``), grades it in the isolated worker (``grader.grading.grade``), and
writes results.json with each part's ``visibility`` (``after_published`` unless the bundle says otherwise),
a short top-level ``output`` (``top_level_output``) and ``execution_time``.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import stat
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from .questions import PROJECT_ROOT, Question, all_questions

VISIBILITIES = ("hidden", "after_due_date", "after_published", "visible")  # Gradescope's values
DEFAULT_VISIBILITY = "after_published"
BUNDLE_CONFIG = "bundle.json"
# what the bundle carries from this project (the references and hidden suites stay readable by root only
# at run time: see run_autograder)
BUNDLE_DIRS = ("grader", "tests", "solutions", "exercises")
BUNDLE_FILES = ("pyproject.toml", "README.md", "scripts/install_torch.py")
SECRET_DIRS = ("tests", "solutions")
# named by setup.sh; qa/test_gradescope.py checks that each exists in the package registries
# unshare and bubblewrap (the worker's namespaces), libseccomp (its system-call filter)
APT_PACKAGES = ("ca-certificates", "util-linux", "bubblewrap", "libseccomp2", "python3-venv")
APT_PYTHON311 = ("python3.11", "python3.11-venv")  # Ubuntu 22.04 has no 3.11 as its python3
PIP_PACKAGES = ("pip", "torch")  # setup.sh's own; the rest are pyproject.toml's dependencies (pip install -e)
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
MAX_UPLOAD_FILE = 4 << 20  # bytes per file taken from the upload (the isolated worker refuses more anyway)
MAX_UPLOAD_FILES = 2000


def autograder_root() -> Path:
    return Path(os.environ.get("AUTOGRADER_ROOT", "/autograder"))


# --------------------------------------------------------------------------------------- the bundle

SETUP_SH = r"""#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image (its Ubuntu base image):
# Python 3.11+, torch (CPU build: Gradescope has no GPU), and this grader from the bundle.
set -euo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
SRC="$ROOT/source"
VENV="$ROOT/venv"
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends @APT@
PY=""
for c in python3.13 python3.12 python3.11 python3; do
  if command -v "$c" >/dev/null && "$c" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    PY="$(command -v "$c")"; break
  fi
done
if [ -z "$PY" ]; then  # Ubuntu 22.04: python3 is 3.10, python3.11 is in its archive
  apt-get install -y --no-install-recommends @APT311@
  PY="$(command -v python3.11)"
fi
echo "== $("$PY" --version) -> $VENV"
"$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
# torch: the CPU build from PyTorch's CPU index (no multi-GB CUDA download)
"$VENV/bin/python" -m pip install -q --index-url @TORCH_INDEX@ torch
# this grader (editable: it finds tests/ and solutions/ beside it in $SRC) and its dependencies
"$VENV/bin/python" -m pip install -q -e "$SRC"
"$VENV/bin/python" -c 'import torch, grader.grading; print("torch", torch.__version__, "ready")'
"""

RUN_AUTOGRADER = r"""#!/usr/bin/env bash
# Gradescope runs this for every submission (a fresh container, as root, working directory /autograder).
# It grades $ROOT/submission in the isolated worker and writes $ROOT/results/results.json.
# AUTOGRADER_ROOT moves the whole layout; LLMGRADE_PYTHON picks another interpreter (the project's tests).
set -uo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
SRC="$ROOT/source"
PY="${LLMGRADE_PYTHON:-$ROOT/venv/bin/python}"
mkdir -p "$ROOT/results"
if [ "$(id -u)" = 0 ]; then
  # where the machine refuses namespaces the worker is a plain process with its own unprivileged uid:
  # the references and hidden suites must not be readable by it, nor the results writable
  chmod -R go-rwx @SECRETS@ 2>/dev/null || true
  chmod go-w "$ROOT/results"
fi
cd "$SRC" || exit 1
export PYTHONPATH="$SRC${PYTHONPATH:+:$PYTHONPATH}"
exec "$PY" -m grader.gradescope "$@"
"""


def setup_script() -> str:
    return (SETUP_SH.replace("@APT@", " ".join(APT_PACKAGES)).replace("@APT311@", " ".join(APT_PYTHON311))
            .replace("@TORCH_INDEX@", TORCH_CPU_INDEX))


def run_script() -> str:
    return RUN_AUTOGRADER.replace("@SECRETS@", " ".join(f'"$SRC/{d}"' for d in SECRET_DIRS))


def _skip(name: str) -> bool:
    return name in ("__pycache__", ".pytest_cache", ".ipynb_checkpoints") or name.endswith(".pyc")


def build_bundle(out: Path, *, visibility: str = DEFAULT_VISIBILITY, qids: list[str] | None = None,
                 root: Path = PROJECT_ROOT) -> Path:
    """Write the autograder zip: setup.sh and run_autograder at its top, the project beside them."""
    if visibility not in VISIBILITIES:
        raise ValueError(f"visibility must be one of {', '.join(VISIBILITIES)}, not {visibility!r}")
    if qids:
        unknown = sorted(set(qids) - set(all_questions()))
        if unknown:
            raise ValueError(f"unknown questions: {', '.join(unknown)}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    config = {"visibility": visibility, "questions": sorted(qids) if qids else None}

    def add_text(z: zipfile.ZipFile, name: str, text: str, mode: int = 0o644) -> None:
        info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
        info.external_attr = (stat.S_IFREG | mode) << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        z.writestr(info, text)

    tmp = out.with_name(out.name + ".part")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        add_text(z, "setup.sh", setup_script(), 0o755)
        add_text(z, "run_autograder", run_script(), 0o755)
        add_text(z, BUNDLE_CONFIG, json.dumps(config, indent=2) + "\n")
        for d in BUNDLE_DIRS:
            for p in sorted((root / d).rglob("*")):
                rel = p.relative_to(root)
                if p.is_file() and not p.is_symlink() and not any(_skip(part) for part in rel.parts):
                    z.write(p, rel.as_posix())
        for f in BUNDLE_FILES:
            z.write(root / f, f)
    tmp.replace(out)
    return out


def bundle_config(src: Path) -> dict:
    path = src / BUNDLE_CONFIG
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


# ------------------------------------------------------------------------------ what was uploaded

@dataclass
class Upload:
    """What ``collect`` made of an upload: ``found`` {qid: the uploaded path it took}, ``missing`` qids,
    ``ignored`` [(path, why)], ``notes`` (duplicates, unreadable zips)."""
    found: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    ignored: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


_QDIR = re.compile(r"^q(\d\d)$", re.IGNORECASE)
_FLAT = re.compile(r"^q(\d\d)(?:[_\-. ](.+))?$", re.IGNORECASE)


def _entries(upload: Path, notes: list[str]):
    """(posix path inside the upload, a function returning its bytes) for every regular file, zips opened
    one level deep; hidden files, __MACOSX and caches left out."""
    for p in sorted(upload.rglob("*")):
        rel = p.relative_to(upload).as_posix()
        if any(part.startswith(".") or part == "__MACOSX" or _skip(part) for part in PurePosixPath(rel).parts):
            continue
        if p.is_symlink():
            notes.append(f"{rel}: a symbolic link, not followed")
            continue
        if not p.is_file():
            continue
        if p.suffix.lower() == ".zip":
            try:
                z = zipfile.ZipFile(p)
            except (zipfile.BadZipFile, OSError) as e:
                notes.append(f"{rel}: not a readable zip ({e})")
                continue
            for info in z.infolist():
                name = PurePosixPath(info.filename)
                mode = info.external_attr >> 16
                if info.is_dir() or stat.S_ISLNK(mode) or any(
                        part.startswith(".") or part in ("__MACOSX", "..") or _skip(part) for part in name.parts):
                    continue
                yield f"{rel}/{name.as_posix()}", info.file_size, (lambda z=z, info=info: z.read(info))
            continue
        yield rel, p.stat().st_size, p.read_bytes


def _place(path: str, qs: dict[str, Question], by_module: dict[str, list[Question]]) -> tuple[str | None, int, str]:
    """(qid or None, rank: 0 qNN/<module>.py, 1 qNN_<module>.py, 2 <module>.py, why when None)."""
    pp = PurePosixPath(path)
    stem = pp.stem
    folders = [m.group(1) for part in pp.parts[:-1] if (m := _QDIR.match(part))]
    if folders:
        qid = f"q{folders[-1]}"
        q = qs.get(qid)
        if q is None:
            return None, 9, f"{qid} is not a question of this assignment"
        if stem == q.module:
            return qid, 0, ""
        if stem in q.given:
            return None, 9, f"given with {qid} (the grader uses its own copy)"
        m = _FLAT.match(stem)
        if not (m and f"q{m.group(1)}" == qid):
            return None, 9, f"{qid}'s module is {q.filename}"
    m = _FLAT.match(stem)
    if m:
        qid = f"q{m.group(1)}"
        q = qs.get(qid)
        if q is None:
            return None, 9, f"{qid} is not a question of this assignment"
        rest = m.group(2)
        if rest is None or rest == q.module:
            return qid, 1, ""
        return None, 9, f"{qid}'s module is {q.filename} (name it {qid}_{q.filename} or {qid}/{q.filename})"
    owners = by_module.get(stem, [])
    if len(owners) == 1:
        return owners[0].qid, 2, ""
    if any(stem in q.given for q in qs.values()):
        return None, 9, "a file given with the exercise (the grader uses its own copy)"
    return None, 9, "not the module of any question"


def collect(upload: Path, dest: Path, qids: list[str] | None = None) -> Upload:
    """Copy the candidate's modules from ``upload`` into ``dest/qNN/<module>.py``.

    Accepted, per question: ``qNN/<module>.py`` (at any depth, e.g. ``exercises/q21/causal_mask.py``),
    ``qNN_<module>.py`` (also ``qNN-<module>.py`` or ``qNN.py``), or ``<module>.py`` alone (every module
    name belongs to one question); any of these inside a zip. Where several files fit one question the
    most explicit (then the shallowest) is taken and the others are listed in ``notes``."""
    qs = {qid: q for qid, q in all_questions().items() if not qids or qid in qids}
    by_module: dict[str, list[Question]] = {}
    for q in qs.values():
        by_module.setdefault(q.module, []).append(q)
    result = Upload()
    chosen: dict[str, list[tuple[int, int, str, object]]] = {}
    for n, (path, size, read) in enumerate(_entries(Path(upload), result.notes)):
        if n >= MAX_UPLOAD_FILES:
            result.notes.append(f"more than {MAX_UPLOAD_FILES} files uploaded: the rest were not looked at")
            break
        pp = PurePosixPath(path)
        if pp.suffix != ".py":
            if pp.suffix.lower() not in (".md", ".toml", ".txt", ".json", ".ipynb", ".zip"):
                result.ignored.append((path, "not a Python file"))
            elif pp.suffix.lower() == ".ipynb":
                result.ignored.append((path, "a notebook: upload the .py modules (llmgrade from-notebooks)"))
            continue
        if pp.name.startswith("test_") or pp.name in ("conftest.py", "__init__.py"):
            continue  # the self-checks travel with the exercises; the hidden suites replace them
        qid, rank, why = _place(path, qs, by_module)
        if qid is None:
            result.ignored.append((path, why))
        elif size > MAX_UPLOAD_FILE:
            result.ignored.append((path, f"{size >> 10} KiB, more than {MAX_UPLOAD_FILE >> 20} MiB"))
        else:
            chosen.setdefault(qid, []).append((rank, len(pp.parts), path, read))
    for qid, q in qs.items():
        options = sorted(chosen.get(qid, []), key=lambda c: c[:3])
        if not options:
            result.missing.append(qid)
            continue
        rank, _, path, read = options[0]
        target = Path(dest) / qid / q.filename
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(read())
        result.found[qid] = path
        if len(options) > 1:
            result.notes.append(f"{qid}: {len(options)} files fit; graded {path}, not "
                                + ", ".join(o[2] for o in options[1:]))
    return result


# -------------------------------------------------------------------------------------- results.json

# Hook for other tools: each gets the report dict and returns lines for the top-level output
# (e.g. the narrative helper may add one line per question). Visible to the candidate.
OUTPUT_SECTIONS: list = []


def top_level_output(report: dict, upload: Upload | None = None) -> str:
    """The short text Gradescope shows above the tests: the score, what was graded and what was not found."""
    from .report import score_text

    lines = [f"Score: {score_text(report['score'], report['max_score'])} over {len(report['questions'])} "
             f"question{'s' * (len(report['questions']) != 1)}."]
    if upload is not None:
        if upload.found:
            lines.append("Graded: " + ", ".join(f"{qid} ({path})" for qid, path in upload.found.items()))
        if upload.missing:
            qs = all_questions()
            lines.append("NOT FOUND (0 points): " + ", ".join(f"{qid} {qs[qid].filename}" for qid in upload.missing)
                         + ". Upload qNN/<module>.py folders, qNN_<module>.py files or a zip of them.")
        for path, why in upload.ignored[:10]:
            lines.append(f"Not used: {path}: {why}")
        if len(upload.ignored) > 10:
            lines.append(f"Not used: {len(upload.ignored) - 10} more files")
        lines += upload.notes
    for section in OUTPUT_SECTIONS:
        lines += list(section(report))
    where = ("in the grading process (not isolated)" if str(report.get("isolation", "")).startswith("none")
             else "in an isolated worker")
    lines.append(f"Graded {where} in {report.get('seconds', 0):.0f} s.")
    return "\n".join(lines)


def results_json(report: dict, upload: Upload | None = None, *, visibility: str = DEFAULT_VISIBILITY,
                 seconds: float | None = None) -> dict:
    """Gradescope's results.json from a grade report: ``grading.gradescope_results`` (one test per rubric
    part) with each test's visibility, the top-level output and the execution time."""
    from .grading import gradescope_results

    data = gradescope_results(report)
    for t in data["tests"]:
        t.setdefault("visibility", visibility)  # the narrative's entry stays hidden
    data["output"] = top_level_output(report, upload)
    data["execution_time"] = int(round(report.get("seconds", 0) if seconds is None else seconds))
    data["stdout_visibility"] = "hidden"  # the grader's log is for the staff
    data["extra_data"] = {"llmgrade": {  # stored by Gradescope, for the staff's exports
        "grader": str(PROJECT_ROOT), "isolation": report.get("isolation"),
        "found": dict(upload.found) if upload else None, "missing": list(upload.missing) if upload else None,
        "points": {qid: q["points"] for qid, q in report["questions"].items()}}}
    return data


def _write_atomic(path: Path, data: dict) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".results-")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, ensure_ascii=False)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def run(root: Path | None = None, *, qids: list[str] | None = None, visibility: str | None = None,
        timing: bool = True) -> int:
    """What run_autograder does: collect, grade in the isolated worker, write results/results.json."""
    from . import grading

    root = Path(root) if root else autograder_root()
    config = bundle_config(PROJECT_ROOT)
    visibility = visibility or config.get("visibility") or DEFAULT_VISIBILITY
    qids = qids or config.get("questions") or None
    t0 = time.perf_counter()
    results = root / "results"
    results.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="llmgrade-upload-") as tmp:
        staged = Path(tmp) / "exercises"
        staged.mkdir()
        upload = collect(root / "submission", staged, qids)
        print(f"llmgrade: found {len(upload.found)} of {len(upload.found) + len(upload.missing)} questions; "
              f"not found: {' '.join(upload.missing) or 'none'}", flush=True)

        def progress(done, total, nodeid, outcome):
            if done == total or done % 50 == 0:
                print(f"  {done}/{total} hidden tests", flush=True)

        try:
            rep = grading.grade(staged, qids, isolate=True, timing=timing, progress=progress)
        except grading.GradingError as e:
            # the grader failed, not the candidate: no results.json, so Gradescope reports a failed
            # autograder to the staff instead of a score of 0
            print(f"llmgrade: cannot grade: {e}", file=sys.stderr)
            return 1
    rep["submission"] = "the upload"
    data = results_json(rep, upload, visibility=visibility, seconds=time.perf_counter() - t0)
    _write_atomic(results / "results.json", data)
    print(data["output"], flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="run_autograder", description="grade $AUTOGRADER_ROOT/submission for Gradescope")
    ap.add_argument("--only", help="comma-separated questions (default: the bundle's)")
    ap.add_argument("--visibility", choices=VISIBILITIES, help="of each part's test (default: the bundle's)")
    ap.add_argument("--no-timing", action="store_true", help="skip the timing tests")
    args = ap.parse_args(argv)
    only = [q.strip() for q in args.only.split(",")] if args.only else None
    return run(qids=only, visibility=args.visibility, timing=not args.no_timing)


if __name__ == "__main__":
    sys.exit(main())
