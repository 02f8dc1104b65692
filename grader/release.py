"""release: the candidate handout — statements, stubs, self-checks and the check library only.

Also ``notebooks/qNN.ipynb``: each question as the notebook nbgrader hands out (``grader.nbcourse``).
Never copied: solutions/, tests/, mutants/, qa/, benchmarks, the isolation and grading code.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

from .questions import PROJECT_ROOT

# The parts of the grader a candidate needs: the checks, the plugin (sub fixture, friendly failures),
# the question registry, hints and the candidate's CLI (progress, hint, watch).
GRADER_FILES = ["__init__.py", "questions.py", "questions.toml", "loading.py", "plugin.py", "forbidden.py",
                "outcomes.py", "progressbar.py", "report.py", "candidate.py", "cli.py", "notebook.py",
                "measuring.py", "meter.py"]  # the timing self-checks measure in-process
GRADER_DIRS = ["checks", "hints"]
HANDOUT_README = PROJECT_ROOT / "docs" / "handout-README.md"
# A self-check takes well under a second (the timing ones about 5 s): in the handout a test that runs
# longer is an endless loop, reported after this many seconds rather than the project's 120.
HANDOUT_TEST_TIMEOUT_S = 30


def handout_pyproject(text: str) -> str:
    """The project's pyproject.toml, as the handout's: its own name, no dev tools, a short test timeout."""
    text = text.replace('name = "llm-internals-exercises"', 'name = "llm-internals-handout"')
    text = re.sub(r'(?m)^description = ".*"$',
                  'description = "LLM internals interview practice (Q20-Q39): statements, stubs and self-checks."',
                  text)
    # the handout's setup installs what runs its notebooks (notebooks/qNN.ipynb), nothing else
    text = re.sub(r'(?m)^dev = \[.*\]$', 'dev = ["nbconvert>=7", "ipykernel>=6"]', text)
    # only the packages the handout holds (the grader's sandbox stays behind), and not the sandbox's dependency
    text = re.sub(r'(?m)^packages = \[.*\]$', 'packages = ["grader", "grader.checks"]', text)
    text = re.sub(r'(?m)^ *"pyseccomp[^\n]*\n', "", text)
    text, n = re.subn(r"(?m)^timeout = \d+$", f"timeout = {HANDOUT_TEST_TIMEOUT_S}", text)
    if n != 1:
        raise SystemExit("llmgrade release: pyproject.toml has no `timeout = N` line under [tool.pytest.ini_options]")
    return text


def handout_setup_script(text: str) -> str:
    """scripts/setup.sh as the handout's: torch and the project with its test tools, nothing of the grader's own
    (no nbgrader, Dask, copydetect, Chromium or sandbox): what follows the project's install is cut."""
    head, sep, _ = text.partition('"$VENV/bin/python" -m pip install')
    if not sep:
        raise ValueError("scripts/setup.sh: no project install line to cut the handout's script after")
    head = re.sub(r"== the project and its tools \([^)]*\)", "== the project and its tools (numpy, pytest, pytest-timeout; nbconvert and ipykernel for the notebooks)",
                  head)
    install = sep + _.split("\n", 1)[0]
    return f'{head}{install}\necho "== ready: $VENV"\n'


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
    setup = out / "scripts" / "setup.sh"
    setup.write_text(handout_setup_script(setup.read_text(encoding="utf-8")), encoding="utf-8")
    pyproject = (PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8")
    (out / "pyproject.toml").write_text(handout_pyproject(pyproject), encoding="utf-8")
    shutil.copy2(HANDOUT_README, out / "README.md")
    # the questions as notebooks: the same as nbgrader's release of `llmgrade nbgrader-course`
    from .nbcourse import write_notebooks
    write_notebooks(out / "notebooks", released=True)
    (out / ".gitignore").write_text(".venv/\n__pycache__/\n*.egg-info/\n", encoding="utf-8")
    return out
