"""release: the candidate handout — statements, stubs, self-checks and the check library only.

Never copied: solutions/, tests/, mutants/, qa/, benchmarks, the isolation and grading code.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from .questions import PROJECT_ROOT

# The parts of the grader a candidate needs: the checks, the plugin (sub fixture, friendly failures),
# the question registry, hints and the candidate's CLI (progress, hint, watch).
GRADER_FILES = ["__init__.py", "questions.py", "questions.toml", "loading.py", "plugin.py", "forbidden.py",
                "junit.py", "progressbar.py", "report.py", "candidate.py", "cli.py"]
GRADER_DIRS = ["checks", "hints"]
HANDOUT_README = PROJECT_ROOT / "docs" / "handout-README.md"


def make_release(out: Path, force: bool = False) -> Path:
    out = out.resolve()
    if out.exists():
        if not force:
            raise SystemExit(f"llmgrade: {out} exists (use --force to replace it)")
        shutil.rmtree(out)
    out.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")
    shutil.copytree(PROJECT_ROOT / "exercises", out / "exercises", ignore=ignore)
    (out / "grader").mkdir()
    for name in GRADER_FILES:
        shutil.copy2(PROJECT_ROOT / "grader" / name, out / "grader" / name)
    for name in GRADER_DIRS:
        shutil.copytree(PROJECT_ROOT / "grader" / name, out / "grader" / name, ignore=ignore)
    (out / "scripts").mkdir()
    for name in ("setup.sh", "install_torch.py"):
        shutil.copy2(PROJECT_ROOT / "scripts" / name, out / "scripts" / name)
    pyproject = (PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8")
    pyproject = pyproject.replace('name = "llm-internals-exercises"', 'name = "llm-internals-handout"')
    pyproject = pyproject.replace('dev = ["nbgrader>=0.9", "matplotlib>=3.7"]', 'dev = []')
    (out / "pyproject.toml").write_text(pyproject, encoding="utf-8")
    shutil.copy2(HANDOUT_README, out / "README.md")
    (out / ".gitignore").write_text(".venv/\n__pycache__/\n*.egg-info/\n", encoding="utf-8")
    return out
