"""The project's pytest plugin loads only where asked (``grader/plugin.py``).

A pytest run of an unrelated test file in the project's environment must not load the plugin, import
torch or change torch's thread count (it did when the plugin was a ``pytest11`` entry point: 12 s for a
one-assert test). The project's own configuration does load it and names the isolation in the header.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time

from grader.questions import PROJECT_ROOT

UNRELATED = '''
import sys


def test_one():
    assert 1 + 1 == 2


def test_nothing_of_the_project_was_imported():
    loaded = sorted(m for m in sys.modules if m == "torch" or m.split(".")[0] == "grader")
    assert not loaded, loaded
'''


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS", "PYTHONPATH")}
    return env


def test_an_unrelated_test_runs_without_the_plugin_or_torch(tmp_path):
    (tmp_path / "test_unrelated.py").write_text(UNRELATED, encoding="utf-8")
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_unrelated.py"],
                          cwd=tmp_path, capture_output=True, text=True, env=_env(), timeout=120)
    seconds = time.monotonic() - t0
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "2 passed" in proc.stdout, proc.stdout[-2000:]
    # about 1 s on the 2-core machine (4 s with the plugin and torch); generous for a loaded machine
    assert seconds < 20, f"an unrelated one-assert run took {seconds:.1f} s"


def test_the_projects_configuration_loads_it_and_names_the_isolation():
    proc = subprocess.run([sys.executable, "-m", "pytest", "tests/q21", "--collect-only", "--impl", "solutions",
                           "--isolate"], cwd=PROJECT_ROOT, capture_output=True, text=True, env=_env(), timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    header = [ln for ln in proc.stdout.splitlines() if ln.startswith("llm-internals:")]
    assert header, proc.stdout[:2000]
    assert f"--impl solutions ({PROJECT_ROOT / 'solutions'})" in header[0], header
    assert "isolation: " in header[0] and "none (in-process)" not in header[0], header
