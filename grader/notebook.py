"""Kernel-side helpers of the question notebooks (the handout's ``notebooks/qNN.ipynb`` and nbgrader's).

A notebook's read-only cells call ``setup("q22")``, ``self_check("q22")`` and
``hidden_tests("q22", points=5)``. The candidate's code is the notebook's executed cells that define
something (the answer cell, and any cell of their own with a ``def``/``class``), written to a temporary
``qNN/<module>.py`` and loaded like any submission, so

- ``self_check`` runs the question's visible self-checks (``exercises/qNN/test_*.py``) with the plugin's
  friendly failures (got/expected, the hint), the location given as the notebook cell and line;
- ``hidden_tests`` (nbgrader's autograde kernel only: it needs ``tests/`` and the grader, which the
  handout has not) runs ``grader.grading.grade`` on that file, prints the rubric's parts and returns the
  points, nbgrader's partial credit. It runs the code in the kernel, not isolated: see
  ``llmgrade nbgrader-grade`` for grading without trusting the kernel.

Shipped in the handout (``llmgrade release``): it holds no reference code and no hidden test.
"""
from __future__ import annotations

import ast
import contextlib
import io
import re
import tempfile
import warnings
from pathlib import Path

from .loading import InProcessProvider, given_module
from .questions import PROJECT_ROOT, get

HARNESS = ("# Setup (read-only)", "# Self-check (read-only)", "# Autograder (read-only)")


def setup(qid: str) -> None:
    """Load the modules given with a question (trusted copies), e.g. q24's tiny_gpt."""
    for name in get(qid).given:
        given_module(qid, name)


def _defines(source: str) -> bool:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return "def " in source or "class " in source  # a syntax error in the answer is the candidate's to see
    return any(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) for n in tree.body)


def answer_cells() -> list[tuple[int, str]]:
    """(execution count, source) of the executed cells that define something, harness cells excluded."""
    try:
        from IPython import get_ipython
        shell = get_ipython()
    except ImportError:
        shell = None
    if shell is None:
        raise RuntimeError("self_check and hidden_tests run inside a Jupyter notebook (an IPython kernel)")
    raw = shell.history_manager.input_hist_raw
    latest: dict[str, tuple[int, str]] = {}
    for n, src in enumerate(raw):
        if not isinstance(src, str) or not src.strip() or src.lstrip().startswith(HARNESS) or not _defines(src):
            continue
        latest[src] = (n, src)  # a cell run twice counts once
    return sorted(latest.values())


def _write(qid: str, cells: list[tuple[int, str]]) -> tuple[Path, list[tuple[int, int, int]]]:
    """Write the cells to TMP/qNN/<module>.py: (that root, [(first line, last line, execution count)])."""
    q = get(qid)
    root = Path(tempfile.mkdtemp(prefix=f"notebook_{qid}_"))
    (root / qid).mkdir()
    lines, spans = [], []
    for n, src in cells:
        start = len(lines) + 1
        lines += src.rstrip("\n").split("\n")
        spans.append((start, len(lines), n))
        lines.append("")
    (root / qid / q.filename).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root, spans


def _cell_location(text: str, path: Path, spans: list[tuple[int, int, int]]) -> str:
    """Replace ``PATH:LINE`` / ``PATH line LINE`` by the notebook cell and the line in it."""
    def where(m: re.Match) -> str:
        line = int(m.group(2))
        for start, end, n in spans:
            if start <= line <= end:
                return f"cell In[{n}], line {line - start + 1}"
        return f"the notebook's code, line {line}"
    pattern = "(?:" + "|".join(re.escape(str(p)) for p in {path, path.resolve()}) + ")"
    return re.sub(pattern + r"(:| line )(\d+)", where, text)


class _Use:
    """A pytest plugin that makes ``sub`` load the notebook's code."""

    def __init__(self, provider):
        self.provider = provider

    def pytest_configure(self, config) -> None:
        from .plugin import use_provider
        use_provider(config, self.provider)


class _Count:
    def __init__(self):
        self.passed = self.total = 0

    def pytest_runtest_logreport(self, report):
        if report.when == "call" or (report.when == "setup" and not report.passed):
            if not report.skipped:
                self.total += 1
                self.passed += report.passed


def self_check(qid: str) -> None:
    """Run the visible self-checks of ``qid`` on the notebook's code; print what ``pytest exercises/qNN``
    prints for each failure (the message, got/expected, the hint) with the cell as the location."""
    import pytest

    from . import plugin

    q = get(qid)
    cells = answer_cells()
    if not cells:
        print(f"{qid}: no cell of this notebook defines anything yet; run the answer cell first")
        return
    root, spans = _write(qid, cells)
    path = root / qid / q.filename
    count = _Count()
    args = [str(t) for t in sorted((PROJECT_ROOT / "exercises" / qid).glob("test_*.py"))] + [
        "-q", "--no-header", "-rN", "-p", "no:cacheprovider", "--rootdir", str(PROJECT_ROOT),
        "-c", str(PROJECT_ROOT / "pyproject.toml")]
    out = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        warnings.simplefilter("ignore")
        pytest.main(args, plugins=[plugin, _Use(InProcessProvider(root)), count])
    text = _cell_location(out.getvalue(), path, spans)
    text = re.sub(r"(?m)^\s*\(the full traceback: .*\)\n", "", text)
    body = text.split("=" * 10, 1)[-1] if count.passed < count.total else ""
    if count.total and count.passed == count.total:
        print(f"{qid} self-check: all {count.total} checks pass ✓ (the hidden tests check more)")
    else:
        print(f"{qid} self-check: {count.passed}/{count.total} checks pass / 自测通过 {count.passed}/{count.total}")
        print(("=" * 10 + body).rstrip() if body else text.rstrip())


def hidden_tests(qid: str, points: float) -> float | None:
    """Grade the notebook's code with the hidden tests of ``qid`` and the question's rubric; return the
    points (nbgrader's partial credit). Where the hidden tests are absent (the handout) say so."""
    if not (PROJECT_ROOT / "tests" / qid).is_dir():
        print(f"{qid}: the hidden tests run when your interviewer grades this notebook; "
              f"the self-check above is yours. 隐藏测试在评分时运行。")
        return None
    from .grading import grade
    from .nbreport import describe

    q = get(qid)
    root, _ = _write(qid, answer_cells())
    out = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        warnings.simplefilter("ignore")  # nbgrader scores a cell that wrote to stderr as 0
        report = grade(root, [qid], isolate=False)
    print(describe(report["questions"][qid], "in this kernel (not isolated)"))
    return round(report["questions"][qid]["points"] * points / q.points, 4)
