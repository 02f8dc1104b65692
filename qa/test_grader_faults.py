"""A fault of the grader is a flag set by trusted code, never a word in a message (``grader.plugin``).

Only ``grader.loading.GraderFault`` itself, raised where every frame is trusted code, sets the test's
``grader_fault`` property, and only that stops a grade (exit 2, no report). A submission's failures that
mention the name, or use a class of that name, or even the grader's own class, are its failures like
any other: ``qa/test_attacks.py`` (grader_fault_text, grader_fault_class) grades them to a complete report.
"""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
from _pytest._code import ExceptionInfo

from grader.isolation import WorkerLimits, ZygoteClient
from grader.loading import GraderFault
from grader.plugin import grader_fault
from grader.questions import PROJECT_ROOT


def _raised_in_trusted_code() -> ExceptionInfo:
    try:
        ZygoteClient(WorkerLimits(), mode="no-such-mode")
    except GraderFault as e:
        e.__traceback__ = e.__traceback__.tb_next  # from the grader's frame on, as when a hidden test calls it
        return ExceptionInfo.from_exception(e)
    raise AssertionError("ZygoteClient accepted an unknown mode")


def _raised_here(exc: BaseException) -> ExceptionInfo:
    try:
        raise exc
    except BaseException as e:  # noqa: BLE001
        return ExceptionInfo.from_exception(e)


def test_only_the_grader_s_own_class_raised_by_trusted_code_is_a_fault():
    assert grader_fault(_raised_in_trusted_code()) == "unknown isolation mode 'no-such-mode' (auto, bwrap, process)"
    own = type("GraderFault", (Exception,), {})
    for exc in (Exception("GraderFault: the grader failed"), own("the grader failed"),
                GraderFault("raised by code outside the grader")):  # this file is not the grader's code
        assert grader_fault(_raised_here(exc)) is None, exc


@pytest.mark.timeout(600)
def test_a_fault_of_the_grader_stops_the_grade():
    """The worker cannot start (an unknown isolation level): the grader's fault, exit 2 and no report."""
    env = dict(os.environ, LLMGRADE_ISOLATION="no-such-mode")
    proc = subprocess.run([sys.executable, "-m", "grader.cli", "grade", "solutions", "--only", "q21", "--quiet",
                           "--no-timing"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=500, env=env)
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "the grader failed, not the submission" in proc.stderr and "unknown isolation mode" in proc.stderr, \
        proc.stderr[-2000:]
