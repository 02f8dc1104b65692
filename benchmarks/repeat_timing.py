"""A pytest plugin for the timing-reliability tool: repeat each test N times, save the measured ratios.

    pytest ... -p repeat_timing --repeat N --ratios-out FILE     (benchmarks/ on sys.path)
"""
from __future__ import annotations

import json

import pytest

from grader.checks import timing


def pytest_addoption(parser):
    parser.addoption("--repeat", type=int, default=1, help="run every test this many times")
    parser.addoption("--ratios-out", default=None, help="write the recorded speed ratios here (JSON)")


def pytest_generate_tests(metafunc):
    n = metafunc.config.getoption("repeat")
    if n > 1:
        metafunc.fixturenames.append("_repeat_index")
        metafunc.parametrize("_repeat_index", range(n), ids=lambda i: f"run{i}")


@pytest.fixture
def _repeat_index(request):
    return request.param


_records: list[dict] = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    before = len(timing.RECORDED)
    yield
    for what, ratio, threshold in timing.RECORDED[before:]:
        _records.append({"test": item.nodeid.split("[")[0], "what": what, "ratio": ratio, "threshold": threshold})


def pytest_sessionfinish(session):
    path = session.config.getoption("ratios_out")
    if path:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(_records, f, indent=1)
