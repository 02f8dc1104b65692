"""The verdict rules, for every question that exists.

- every hidden test passes on the references;
- every hidden test fails on the untouched stubs (a test that passes a stub asserts nothing useful);
- every visible self-check passes when the reference is copied over the stub, and fails on the stub.
"""
import pytest

from support import QUESTIONS

pytestmark = pytest.mark.timeout(1800)  # session fixtures run whole suites in subprocesses


def _listing(outcomes, statuses):
    bad = [o for o in outcomes if o.status in statuses]
    return "\n".join(f"  {o.nodeid}: {o.status} {o.message.splitlines()[0] if o.message else ''}"[:300]
                     for o in bad[:20])


def _require(results, qid: str, what: str, allowed: tuple[str, ...], problem: str) -> None:
    outcomes = results.get(qid, [])
    assert outcomes, f"no {what} ran for {qid}"
    bad = [o for o in outcomes if o.status not in allowed]
    assert not bad, f"{len(bad)} {what} of {qid} {problem}:\n" + _listing(outcomes, tuple({o.status for o in bad}))


@pytest.mark.parametrize("qid", QUESTIONS)
def test_references_pass_every_hidden_test(hidden_on_references, qid):
    _require(hidden_on_references, qid, "hidden tests", ("passed",), "do not pass on the reference")


@pytest.mark.parametrize("qid", QUESTIONS)
def test_stubs_fail_every_hidden_test(hidden_on_stubs, qid):
    _require(hidden_on_stubs, qid, "hidden tests", ("failed", "error"), "pass (or skip) on the untouched stub")


@pytest.mark.parametrize("qid", QUESTIONS)
def test_self_checks_pass_on_references(self_checks_on_references, qid):
    _require(self_checks_on_references, qid, "self-checks", ("passed",), "fail with the reference copied in")


@pytest.mark.parametrize("qid", QUESTIONS)
def test_self_checks_fail_on_stubs(self_checks_on_stubs, qid):
    _require(self_checks_on_stubs, qid, "self-checks", ("failed", "error"), "pass on the untouched stub")


@pytest.mark.parametrize("qid", QUESTIONS)
def test_stub_failures_are_one_readable_line(self_checks_on_stubs, qid):
    for o in self_checks_on_stubs.get(qid, []):
        first = o.message.splitlines()[0] if o.message else ""
        assert "is not implemented yet" in first and f"{qid}/" in first, f"{o.nodeid}: {o.message[:300]}"
