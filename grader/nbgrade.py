"""Grading an nbgrader course's submissions without trusting the kernel.

    llmgrade nbgrader-grade COURSE [--assignment llm-internals] [--student alice ...]

This is nbgrader's own ``autograde`` with one preprocessor swapped: ``IsolatedGrade`` takes the place of
``Execute``. Everything else is nbgrader's: the sanitising pass (locked and test cells restored from the
gradebook, outputs cleared), ``SaveAutoGrades`` writing each grade cell's score into the gradebook, late
penalties, the ``autograded/`` notebooks that ``generate_feedback`` and the formgrader read. No kernel is
started: ``IsolatedGrade`` takes the notebook's solution cells (its ``qNN/<module>.py``), grades them
with ``grader.grading.grade`` in the isolated worker and writes the result into the autograder cell as
nbgrader's partial credit (an ``execute_result`` holding the points) and the rubric's parts as its text.
"""
from __future__ import annotations

import contextlib
import io
import os
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

from nbgrader.preprocessors import NbGraderPreprocessor
from nbformat.v4 import new_output

from .nbreport import describe
from .questions import all_questions

# nbgrader's default autograde preprocessors (nbgrader 0.9), with Execute replaced
PREPROCESSORS = ["grader.nbgrade.IsolatedGrade", "nbgrader.preprocessors.IgnorePattern",
                 "nbconvert.preprocessors.ClearMetadataPreprocessor", "nbgrader.preprocessors.LimitOutput",
                 "nbgrader.preprocessors.SaveAutoGrades", "nbgrader.preprocessors.AssignLatePenalties",
                 "nbgrader.preprocessors.CheckCellMetadata"]


def _source(cell) -> str:
    return cell.source if isinstance(cell.source, str) else "".join(cell.source)


def solution_code(nb) -> str:
    """The candidate's code of a notebook: its solution cells, in order."""
    return "\n\n".join(_source(c) for c in nb.cells
                       if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")) + "\n"


class IsolatedGrade(NbGraderPreprocessor):
    """Grade a question notebook's solution cells in the isolated worker; put the points in its test cell.

    Enabled like nbgrader's own preprocessors (nbconvert skips a disabled one, and nbgrader would then give
    full credit to a test cell without output). A notebook it cannot grade fails nbgrader's autograde."""

    def preprocess(self, nb, resources):
        from .grading import grade

        qid = resources["nbgrader"]["notebook"]
        student = resources["nbgrader"].get("student", "?")
        q = all_questions().get(qid)
        if q is None:
            self.log.warning("%s is not a question notebook of this project: not graded", qid)
            return nb, resources
        tmp = Path(tempfile.mkdtemp(prefix=f"nbgrade_{qid}_"))
        try:
            (tmp / qid).mkdir()
            (tmp / qid / q.filename).write_text(solution_code(nb), encoding="utf-8")
            with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
                warnings.simplefilter("ignore")
                entry = grade(tmp, [qid], isolate=True)["questions"][qid]
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        text = describe(entry, "isolated worker")
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
                pts = round(entry["points"] * float(meta["points"]) / q.points, 4)
                cell.outputs = [new_output("stream", name="stdout", text=text + "\n"),
                                new_output("execute_result", data={"text/plain": repr(pts)}, execution_count=1)]
                cell.execution_count = 1
        print(f"  {student} {qid}: {entry['points']:g}/{entry['max_points']:g}", file=sys.stderr, flush=True)
        return nb, resources


def autograde_isolated(course: Path, assignment: str, students: list[str] | None = None,
                       force: bool = True) -> int:
    """Run nbgrader's autograde in COURSE with ``IsolatedGrade`` instead of a kernel; nbgrader's exit code."""
    from nbgrader.apps.autogradeapp import AutogradeApp
    from traitlets.config import Config

    here = os.getcwd()
    os.chdir(course)
    try:
        # nbgrader's INFO lines (each file written) drown the one line per graded notebook; warnings stay
        argv = [assignment, "--log-level=WARN"] + (["--force"] if force else [])
        for s in students or []:
            argv.append(f"--student={s}")
        app = AutogradeApp()
        with warnings.catch_warnings():
            from sqlalchemy.exc import SAWarning
            warnings.simplefilter("ignore", SAWarning)  # on nbgrader's own models: not the user's business
            app.initialize(argv)
            cfg = Config()
            cfg.Autograde.autograde_preprocessors = PREPROCESSORS
            app.update_config(cfg)
            app.start()
        return 0
    except SystemExit as e:
        return int(e.code or 0)
    finally:
        os.chdir(here)
