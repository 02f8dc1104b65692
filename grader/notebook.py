"""Kernel-side helpers for the nbgrader notebooks: the same checks, run against the notebook's code.

A notebook cell calls ``self_check("q21", globals())`` (the visible self-checks) or
``hidden_tests("q21", "test_causal_mask.py", globals(), points=5)`` (a hidden suite, in nbgrader's
hidden-test region). Both run the very test files used everywhere else (``exercises/qNN/test_*.py``,
``tests/qNN/test_*.py``) through pytest, with the ``sub`` fixture pointing at the notebook's namespace.
``hidden_tests`` returns the points earned, which nbgrader reads as partial credit.
"""
from __future__ import annotations

import contextlib
import io
import tempfile
import types
import warnings
from pathlib import Path

from .loading import ModuleView, given_module
from .questions import PROJECT_ROOT, get


class NotebookProvider:
    """A pytest plugin that makes ``sub`` return the notebook's namespace for every question."""

    isolation = "none: the notebook's code runs in the grading kernel (nbgrader)"

    def __init__(self, qid: str, namespace: dict):
        q = get(qid)
        mod = types.ModuleType(f"notebook_{qid}")
        mod.__dict__.update({k: v for k, v in namespace.items() if not k.startswith("_")})
        self.view = ModuleView(q, mod, f"{qid}.ipynb")
        # the candidate's code: every executed cell except the read-only harness cells of the notebook
        harness = ("# Setup (read-only)", "# Self-check (read-only)", "# Autograder:")
        cells = namespace.get("In") or []
        source = "\n\n".join(c for c in cells if isinstance(c, str) and not c.lstrip().startswith(harness))
        tmp = Path(tempfile.mkdtemp(prefix=f"nb_{qid}_")) / q.filename
        tmp.write_text(source, encoding="utf-8")  # what static checks (forbidden calls) read
        self.view._path = tmp

    def get(self, qid: str) -> ModuleView:
        return self.view

    def close(self) -> None:
        pass

    def pytest_configure(self, config) -> None:
        from .plugin import use_provider
        use_provider(config, self)


def setup(qid: str) -> None:
    """Load the modules given with a question (trusted copies), e.g. q24's tiny_gpt."""
    for name in get(qid).given:
        given_module(qid, name)


class _Count:
    def __init__(self):
        self.passed, self.total, self.failures = 0, 0, []
        self.outcomes: list[tuple[str, str]] = []  # (nodeid, status) for the rubric

    def pytest_runtest_logreport(self, report):
        if report.when == "call" or (report.when == "setup" and not report.passed):
            self.outcomes.append((report.nodeid, report.outcome))
            if report.skipped:
                return
            self.total += 1
            if report.passed:
                self.passed += 1
            else:
                msg = getattr(getattr(report.longrepr, "reprcrash", None), "message", None) or str(report.longrepr)
                self.failures.append((report.nodeid.split("::")[-1], msg.splitlines()[0] if msg else ""))


def _forget_test_modules() -> None:
    """Self-check and hidden test files may share a basename (prepend import mode): drop earlier imports."""
    import sys
    for name, mod in list(sys.modules.items()):
        file = getattr(mod, "__file__", None) or ""
        if name.startswith("test_") and file.startswith(str(PROJECT_ROOT)):
            del sys.modules[name]


def _run(path: Path, qid: str, namespace: dict) -> _Count:
    import pytest

    from . import plugin

    _forget_test_modules()
    count = _Count()
    args = [str(path), "-q", "-p", "no:cacheprovider", "--rootdir", str(PROJECT_ROOT),
            "-c", str(PROJECT_ROOT / "pyproject.toml"), "--impl", str(PROJECT_ROOT / "exercises")]
    sink = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        warnings.simplefilter("ignore")
        pytest.main(args, plugins=[plugin, NotebookProvider(qid, namespace), count])
    return count


def _summary(qid: str, count: _Count, what: str) -> str:
    lines = [f"{qid} {what}: {count.passed}/{count.total} passed"]
    for name, msg in count.failures[:10]:
        lines.append(f"  ✘ {name}: {msg[:200]}")
    if len(count.failures) > 10:
        lines.append(f"  … and {len(count.failures) - 10} more")
    return "\n".join(lines)


def self_check(qid: str, namespace: dict) -> None:
    """Run the visible self-check of ``qid`` against the notebook's functions; print the result."""
    q = get(qid)
    path = PROJECT_ROOT / "exercises" / qid / f"test_{q.module}.py"
    count = _run(path, qid, namespace)
    print(_summary(qid, count, "self-check"))


def hidden_tests(qid: str, filename: str, namespace: dict, points: float) -> float:
    """Run one hidden test file against the notebook's functions; return the points earned."""
    path = PROJECT_ROOT / "tests" / qid / filename
    if not path.exists():
        print(f"{qid}: the hidden tests are not installed on this machine")
        return 0.0
    from .rubric import score_parts
    count = _run(path, qid, namespace)
    print(_summary(qid, count, f"hidden tests ({filename})"))
    parts = score_parts(qid, points, count.outcomes)  # the question's rubric, as in `llmgrade grade`
    for p in parts:
        if p["total"]:
            print(f"  part {p['id']}: {p['points']:.2f}/{p['max_points']:g}  ({p['title']})")
    return round(sum(p["points"] for p in parts if p["total"]), 4)
