"""One outcome per test, collected from pytest's own hooks by ``grader.plugin``.

The grader reads these directly: in-process (``Collector`` passed to ``pytest.main``) or, when pytest
runs in a subprocess, from the JSON file the plugin writes (``pytest --results PATH``; ``read(PATH)``).
No test report goes through JUnit XML and back, and no kind of failure is guessed from its text: the
plugin sets ``kind`` from the exception that was raised (see ``KINDS``).
"""
from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

# The kind of a failed test (``Outcome.kind``), decided by ``grader.plugin.failure_kind`` from the exception:
KINDS = {
    "check": "a check of the submission's result failed (CheckFailure, or a test's own assert)",
    "not_implemented": "the submission's function still raises NotImplementedError",
    "submission": "the submission could not be used: a missing name, a syntax error, an argument changed in "
                  "place, a worker that crashed or hit a limit (SubmissionError)",
    "raised": "the submission's code raised an exception",
    "timeout": "the test did not finish within its time limit (pytest-timeout)",
    "grader_fault": "the grader's own code failed (GraderFault raised by trusted code): never the submission's fault",
    "error": "any other exception (e.g. inside a check, on a result of the wrong kind)",
}
RUBRIC_PART = "rubric_part"  # the test's user property naming its rubric part (also in pytest's --junitxml)
FAILURE_KIND = "failure_kind"  # the report's user property set by grader.plugin (one of KINDS)
NOT_IMPLEMENTED = "not_implemented_function"  # the report's user property: the stub function that raised
_QDIR = re.compile(r"^q\d\d$")


@dataclass(frozen=True)
class Outcome:
    nodeid: str  # "tests/q21/test_causal_mask.py::test_square_masks[1]" (relative to pytest's rootdir)
    qid: str  # "q21"
    status: str  # "passed" | "failed" | "error" (outside the test's call) | "skipped"
    message: str  # the failure's one-line-first message, or the skip reason
    seconds: float  # setup + call + teardown
    kind: str = ""  # one of KINDS for a failed or errored test, else ""
    part: str = ""  # the rubric part of a hidden test, else ""
    function: str = ""  # kind "not_implemented": the stub's function (e.g. "KVCache.__init__")


def question_of_nodeid(nodeid: str) -> str:
    parts = nodeid.split("::", 1)[0].split("/")
    return next((p for p in reversed(parts[:-1]) if _QDIR.match(p)), "")


def _message(report) -> str:
    longrepr = report.longrepr
    if longrepr is None:
        return ""
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # a skip: (path, lineno, reason)
        reason = str(longrepr[2])
        return reason[len("Skipped: "):] if reason.startswith("Skipped: ") else reason
    crash = getattr(longrepr, "reprcrash", None)
    message = getattr(crash, "message", None)
    return str(message if message is not None else longrepr).strip()


class Collector:
    """A pytest plugin: one ``Outcome`` per test (and per file that failed to collect), in run order."""

    def __init__(self):
        self.outcomes: list[Outcome] = []
        self.isolation: str | None = None  # the provider's isolation level, set by grader.plugin at the end
        self._open: dict[str, dict] = {}

    def pytest_collectreport(self, report) -> None:
        if report.failed:
            self.outcomes.append(Outcome(report.nodeid, question_of_nodeid(report.nodeid), "error",
                                         _message(report), 0.0, "error"))

    def pytest_runtest_logreport(self, report) -> None:
        props = dict(report.user_properties)
        entry = self._open.setdefault(report.nodeid, {"status": "passed", "message": "", "kind": "",
                                                      "function": "", "seconds": 0.0})
        entry["seconds"] += float(getattr(report, "duration", 0.0) or 0.0)
        entry["part"] = str(props.get(RUBRIC_PART, ""))
        if entry["status"] == "passed":  # the first phase that did not pass decides
            if report.failed:
                entry["status"] = "failed" if report.when == "call" else "error"
            elif report.skipped:
                entry["status"] = "skipped"
            if report.failed or report.skipped:
                entry["message"] = _message(report)
                entry["kind"] = str(props.get(FAILURE_KIND, "error")) if report.failed else ""
                entry["function"] = str(props.get(NOT_IMPLEMENTED, ""))
        if report.when == "teardown":
            e = self._open.pop(report.nodeid)
            self.outcomes.append(Outcome(report.nodeid, question_of_nodeid(report.nodeid), e["status"],
                                         e["message"], round(e["seconds"], 6), e["kind"], e["part"], e["function"]))

    def write(self, path: Path) -> None:
        data = {"isolation": self.isolation, "outcomes": [asdict(o) for o in self.outcomes]}
        Path(path).write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


def read(path: Path) -> list[Outcome]:
    """The outcomes written by ``pytest --results PATH``."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return [Outcome(**o) for o in data["outcomes"]]
