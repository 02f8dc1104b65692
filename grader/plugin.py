"""The pytest plugin behind every suite (registered as the ``llm_internals`` pytest11 entry point).

- ``--impl solutions|exercises|PATH`` chooses what the hidden suites under ``tests/`` test.
- ``--isolate`` runs the submission in an isolated worker process (what the grader uses).
- ``sub``: the candidate's module for the test's question (the only way tests reach a submission).
  A self-check beside its stub (``exercises/qNN/test_*.py``) always gets the stub next to it.
- ``ref``: the trusted reference module (hidden suites only).
- Failures from ``CheckFailure``, ``NotImplementedError`` and ``SubmissionError`` print as one line.
"""
from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from .checks.core import CheckFailure
from .loading import GraderFault, InProcessProvider, SubmissionError, given_module, load_path
from .questions import PROJECT_ROOT, get

_QDIR = re.compile(r"^q\d\d$")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("llm-internals", "LLM-internals exercises")
    group.addoption("--impl", default="exercises", metavar="WHAT",
                    help="what the hidden suites test: 'solutions', 'exercises' (default) or a folder "
                         "shaped like exercises/ (qNN/<module>.py)")
    group.addoption("--isolate", action="store_true", default=False,
                    help="run the submission in an isolated worker process (the grader's mode)")
    group.addoption("--call-timeout", type=float, default=None, metavar="SECONDS",
                    help="with --isolate: wall-clock limit per call into the submission (default 60)")


def resolve_impl(value: str, base: Path = PROJECT_ROOT) -> Path:
    if value in ("solutions", "exercises"):
        return base / value
    path = Path(value).expanduser()
    return path.resolve()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "timing: a speed ratio measured in one process")
    config.addinivalue_line("markers", "slow: takes more than a few seconds")
    config._llm_provider = None  # created lazily: most runs never need it
    # One torch thread: the exercises' tensors are small, and waking a second thread on a busy machine
    # costs more than it saves; results are also independent of the machine's core count.
    import torch
    torch.set_num_threads(1)


def _provider(config: pytest.Config):
    override = getattr(config, "_llm_provider_override", None)  # e.g. grader.notebook's provider
    if override is not None:
        return override
    if config._llm_provider is None:
        root = resolve_impl(config.getoption("impl"))
        if not root.is_dir():
            raise pytest.UsageError(f"--impl {config.getoption('impl')}: no such folder {root}")
        if config.getoption("isolate"):
            try:
                from .isolation import WorkerProvider  # imported only where needed
                config._llm_provider = WorkerProvider(root, call_timeout=config.getoption("call_timeout"))
            except Exception as e:  # noqa: BLE001 - reported as the grader's fault, never the candidate's
                raise GraderFault(f"cannot start the isolated worker: {type(e).__name__}: {e}") from e
        else:
            config._llm_provider = InProcessProvider(root)
    return config._llm_provider


def pytest_unconfigure(config: pytest.Config) -> None:
    provider = getattr(config, "_llm_provider", None)
    if provider is not None:
        provider.close()


def question_of(path: Path) -> str:
    for part in reversed(Path(path).parts[:-1]):
        if _QDIR.match(part):
            return part
    raise pytest.UsageError(f"{path}: tests must live in a qNN folder")


_beside_cache: dict[Path, InProcessProvider] = {}


@pytest.fixture
def sub(request: pytest.FixtureRequest):
    """The submission's module for this test's question (attribute access only)."""
    path = Path(request.node.path)
    qid = question_of(path)
    q = get(qid)
    if getattr(request.config, "_llm_provider_override", None) is not None:
        return _provider(request.config).get(qid)
    if (path.parent / q.filename).exists() and path.parent.parent.name != "tests":
        root = path.parent.parent  # a self-check beside its stub
        provider = _beside_cache.setdefault(root, InProcessProvider(root))
        return provider.get(qid)
    return _provider(request.config).get(qid)


@pytest.fixture
def ref(request: pytest.FixtureRequest):
    """The trusted reference module for this test's question."""
    qid = question_of(Path(request.node.path))
    q = get(qid)
    path = PROJECT_ROOT / "solutions" / qid / q.filename
    if not path.exists():
        pytest.skip("the reference solutions are not in this copy")
    for name in q.given:
        given_module(qid, name)
    key = f"_reference_{qid}_{q.module}"
    import sys
    return sys.modules.get(key) or load_path(path, key)


@pytest.fixture
def given():
    """``given(qid, name)``: a module shipped with an exercise (trusted copy), e.g. q24's tiny_gpt."""
    return given_module


# --- friendly failures ---------------------------------------------------------------------------

class OneLine:
    """A failure representation that prints one message and no traceback (also in -r summaries)."""

    def __init__(self, message: str, path: str = "", lineno: int = 0):
        self.message = message
        self.reprcrash = SimpleNamespace(message=message, path=path, lineno=lineno)

    def toterminal(self, tw) -> None:
        for line in self.message.splitlines():
            tw.line(line)

    def __str__(self) -> str:
        return self.message


def _not_implemented_message(excinfo) -> str:
    exc = excinfo.value
    where = getattr(exc, "where", None)  # set by the isolated proxy
    if where:
        return f"{where[0]} is not implemented yet: {where[1]}:{where[2]}"
    entry = excinfo.traceback[-1]
    raw = entry.frame.code.raw
    name = getattr(raw, "co_qualname", raw.co_name)  # KVCache.__init__, not just __init__
    try:
        rel = Path(entry.path).resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        rel = Path(entry.path)
    return f"{name} is not implemented yet: {rel}:{entry.lineno + 1}"


def friendly_message(excinfo) -> str | None:
    text = str(excinfo.value)
    if type(excinfo.value).__name__ == "Failed" and text.startswith("Timeout"):  # pytest-timeout
        limit = text.split(">")[1].split("s")[0] if ">" in text else "?"
        return (f"did not finish within the test's time limit ({limit} s): look for a loop that never ends "
                f"or a computation whose size is not bounded")
    if excinfo.errisinstance(NotImplementedError):
        return _not_implemented_message(excinfo)
    if excinfo.errisinstance((CheckFailure, SubmissionError)):
        return str(excinfo.value)
    return None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    if call.excinfo is None or report.passed or report.skipped:
        return
    message = friendly_message(call.excinfo)
    if message is not None:
        report.longrepr = OneLine(message, str(item.path), 0)
