"""The pytest plugin behind every suite, loaded only where asked.

It is never registered for every pytest run in the environment: the project's and the handout's
``pyproject.toml`` load it (``addopts = ... -p grader.plugin``), and the grader's own runs name it
(``pytest.main(..., plugins=[grader.plugin, ...])`` in-process, ``-p grader.plugin`` in a subprocess).
A test file elsewhere runs without it (and without importing torch).

- ``--impl solutions|exercises|PATH`` chooses what the hidden suites under ``tests/`` test.
- ``--isolate`` runs the submission in an isolated worker process (what the grader uses).
- ``--results PATH`` writes one outcome per test as JSON (``grader.outcomes``) for a grader that ran
  pytest in a subprocess; in-process, the grader passes a ``grader.outcomes.Collector`` to ``pytest.main``.
- ``sub``: the candidate's module for the test's question (the only way tests reach a submission).
  A self-check beside its stub (``exercises/qNN/test_*.py``) always gets the stub next to it.
- ``ref``: the trusted reference module (hidden suites only).
- The header (``pytest_report_header``) names what is tested and the isolation level.
- Failures from ``CheckFailure``, ``NotImplementedError`` and ``SubmissionError`` print as one line.
- Each failed report carries its kind (``failure_kind`` user property, one of ``grader.outcomes.KINDS``),
  decided from the exception raised, never from its text. A ``GraderFault`` raised by the grader's own
  code sets the ``grader_fault`` user property (also a JUnit property): a fault is a flag, never a word.
- State lives in ``config.stash`` (``PROVIDER``, ``PROVIDER_OVERRIDE``, ``OUTCOMES``, ...).
"""
from __future__ import annotations

import re
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from .checks.core import CheckFailure
from .loading import GRADER_FAULT, GraderFault, InProcessProvider, SubmissionError, given_module, load_path
from .outcomes import FAILURE_KIND, NOT_IMPLEMENTED, RUBRIC_PART, Collector
from .questions import PROJECT_ROOT, get

_QDIR = re.compile(r"^q\d\d$")

# The plugin's state, per pytest run (``config.stash``):
PROVIDER = pytest.StashKey()  # the provider of ``sub`` for the hidden suites (created on first use)
PROVIDER_OVERRIDE = pytest.StashKey()  # set by an embedding plugin, e.g. grader.notebook's provider
BESIDE = pytest.StashKey()  # {exercises root: InProcessProvider} for self-checks beside their stub
TIMED_OUT = pytest.StashKey()  # questions whose self-check ran out of time (their others are skipped)
OUTCOMES = pytest.StashKey()  # the grader.outcomes.Collector of this run


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("llm-internals", "LLM-internals exercises")
    group.addoption("--impl", default="exercises", metavar="WHAT",
                    help="what the hidden suites test: 'solutions', 'exercises' (default) or a folder "
                         "shaped like exercises/ (qNN/<module>.py)")
    group.addoption("--isolate", action="store_true", default=False,
                    help="run the submission in an isolated worker process (the grader's mode)")
    group.addoption("--call-timeout", type=float, default=None, metavar="SECONDS",
                    help="with --isolate: wall-clock limit per call into the submission (default 60)")
    group.addoption("--results", default=None, metavar="PATH",
                    help="write one outcome per test (status, kind, message, rubric part, seconds) as JSON")


def resolve_impl(value: str, base: Path = PROJECT_ROOT) -> Path:
    if value in ("solutions", "exercises"):
        return base / value
    path = Path(value).expanduser()
    return path.resolve()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "timing: a speed ratio measured in one process")
    config.addinivalue_line("markers", "slow: takes more than a few seconds")
    config.addinivalue_line("markers", "forbidden: a forbidden-call test (operator trace and static check)")
    config.stash[BESIDE] = {}
    config.stash[TIMED_OUT] = set()
    # the grader may pass its own Collector to pytest.main; otherwise this run has one of its own
    collector = next((p for p in config.pluginmanager.get_plugins() if isinstance(p, Collector)), None)
    if collector is None:
        collector = Collector()
        config.pluginmanager.register(collector, "llm-internals-outcomes")
    config.stash[OUTCOMES] = collector
    # One torch thread: the exercises' tensors are small, and waking a second thread on a busy machine
    # costs more than it saves; results are also independent of the machine's core count.
    import torch
    torch.set_num_threads(1)


def use_provider(config: pytest.Config, provider) -> None:
    """Make ``sub`` return ``provider.get(qid)`` for every test of this run (e.g. a notebook's namespace)."""
    config.stash[PROVIDER_OVERRIDE] = provider


def _provider(config: pytest.Config):
    override = config.stash.get(PROVIDER_OVERRIDE, None)
    if override is not None:
        return override
    if PROVIDER not in config.stash:
        root = resolve_impl(config.getoption("impl"))
        if not root.is_dir():
            raise pytest.UsageError(f"--impl {config.getoption('impl')}: no such folder {root}")
        if config.getoption("isolate"):
            try:
                from .isolation import WorkerProvider  # imported only where needed
                config.stash[PROVIDER] = WorkerProvider(root, call_timeout=config.getoption("call_timeout"))
            except Exception as e:  # noqa: BLE001 - reported as the grader's fault, never the candidate's
                raise GraderFault(f"cannot start the isolated worker: {type(e).__name__}: {e}") from e
        else:
            config.stash[PROVIDER] = InProcessProvider(root)
    return config.stash[PROVIDER]


def pytest_sessionstart(session: pytest.Session) -> None:
    """With --isolate, start the sandbox now: bubblewrap and the zygote (which imports torch, ~1.5 s) boot
    on the other core while the tests are collected, instead of inside the first test."""
    config = session.config
    if config.getoption("isolate") and config.stash.get(PROVIDER_OVERRIDE, None) is None:
        try:
            _provider(config)  # launches without waiting; the first call waits for the zygote's hello
        except Exception:  # noqa: BLE001 - ``sub`` raises it again, as the grader's fault, in each test
            pass


def pytest_report_header(config: pytest.Config) -> list[str]:
    """What the hidden suites test and how isolated it is (self-checks always test the stub beside them)."""
    impl = config.getoption("impl")
    if config.stash.get(PROVIDER_OVERRIDE, None) is not None:
        what, isolation = "the embedding provider", config.stash[PROVIDER_OVERRIDE].isolation
    else:
        what = f"--impl {impl} ({resolve_impl(impl)})"
        if config.getoption("isolate"):
            try:
                isolation = _provider(config).isolation  # starts the worker the hidden suites will use
            except Exception as e:  # noqa: BLE001 - the tests then report the fault
                isolation = f"the isolated worker could not start ({type(e).__name__}: {e})"
        else:
            isolation = InProcessProvider.isolation
    return [f"llm-internals: hidden suites test {what}; isolation: {isolation}"]


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    collector = config.stash.get(OUTCOMES, None)
    if collector is None:
        return
    provider = config.stash.get(PROVIDER_OVERRIDE, None) or config.stash.get(PROVIDER, None)
    if provider is not None:
        try:
            collector.isolation = provider.isolation
        except Exception:  # noqa: BLE001 - the grader then describes it itself
            pass
    path = config.getoption("results")
    if path:
        collector.write(Path(path))


def pytest_unconfigure(config: pytest.Config) -> None:
    provider = config.stash.get(PROVIDER, None)
    if provider is not None:
        provider.close()


def question_of(path: Path) -> str:
    for part in reversed(Path(path).parts[:-1]):
        if _QDIR.match(part):
            return part
    raise pytest.UsageError(f"{path}: tests must live in a qNN folder")


@pytest.fixture
def sub(request: pytest.FixtureRequest):
    """The submission's module for this test's question (attribute access only)."""
    path = Path(request.node.path)
    qid = question_of(path)
    q = get(qid)
    if request.config.stash.get(PROVIDER_OVERRIDE, None) is not None:
        return _provider(request.config).get(qid)
    if (path.parent / q.filename).exists() and path.parent.parent.name != "tests":
        root = path.parent.parent  # a self-check beside its stub
        beside = request.config.stash[BESIDE]
        if root not in beside:
            beside[root] = InProcessProvider(root)
        return beside[root].get(qid)
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
# A failing check prints its message alone; a crash or an endless loop inside the candidate's code prints
# where it happened and with which arguments (pass --tb=long for pytest's full traceback). Reports of
# these failures are built without pytest's traceback formatting, which is most of the cost of a run
# over many unfinished stubs (`llmgrade progress`).

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


def _rel(path) -> str:
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)


def _not_implemented_where(excinfo) -> tuple[str, str, int]:
    """(function, file, line) of a NotImplementedError: the stub that raised it."""
    where = getattr(excinfo.value, "where", None)  # set by the isolated proxy
    if where:
        return where[0], where[1], where[2]
    entry = excinfo.traceback[-1]
    raw = entry.frame.code.raw
    name = getattr(raw, "co_qualname", raw.co_name)  # KVCache.__init__, not just __init__
    return name, _rel(entry.path), entry.lineno + 1


def _not_implemented_message(excinfo) -> str:
    name, file, line = _not_implemented_where(excinfo)
    return f"{name} is not implemented yet: {file}:{line}"


def _submission_file(item) -> Path | None:
    """The candidate's module file this test used (in-process runs only)."""
    from .loading import ModuleView
    sub = getattr(item, "funcargs", {}).get("sub")
    path = vars(sub).get("_path") if isinstance(sub, ModuleView) else None  # never touch a worker proxy
    return Path(path).resolve() if path else None


def _frames_in(excinfo, path: Path) -> list:
    out = []
    for entry in excinfo.traceback:
        try:
            if Path(str(entry.path)).resolve() == path:
                out.append(entry)
        except OSError:
            continue
    return out


def _qualname(entry) -> str:
    raw = entry.frame.code.raw
    return getattr(raw, "co_qualname", raw.co_name)


def _arguments(entry) -> str:
    """The arguments of a frame's function, described briefly (tensors by dtype and shape)."""
    from .checks.core import describe
    raw = entry.frame.code.raw
    n = raw.co_argcount + raw.co_kwonlyargcount
    names = list(raw.co_varnames[:n])
    if raw.co_flags & 0x04:  # *args
        names.append(raw.co_varnames[n])
    values = entry.frame.f_locals
    parts = [f"{name}={describe(values[name])}" for name in names if name != "self" and name in values]
    text = ", ".join(parts)
    return text if len(text) <= 400 else text[:397] + "..."


def _source_line(path: Path, lineno: int) -> str:
    import linecache
    return linecache.getline(str(path), lineno).strip()


def _crash_message(excinfo, item, path: Path | None) -> str | None:
    """An exception raised inside the candidate's code: what, where, with which arguments."""
    entries = _frames_in(excinfo, path) if path else []
    if not entries:
        return None
    outer, inner = entries[0], entries[-1]
    exc = excinfo.value
    lines = str(exc).strip().splitlines()
    text = lines[0][:300] + (" ..." if len(lines) > 1 or len(lines[0]) > 300 else "") if lines else ""
    rel, lineno = _rel(path), inner.lineno + 1
    name, inner_name = _qualname(outer), _qualname(inner)
    msg = f"{name} raised {type(exc).__name__}: {text} ({rel} line {lineno})"
    msg += f"\n  {rel}:{lineno}{f' in {inner_name}' if inner_name != name else ''}: {_source_line(path, lineno)}"
    args = _arguments(outer)
    if args:
        msg += f"\n  {name} was called with {args}"
    msg += f"\n  (the full traceback: pytest {_rel(item.path)} --tb=long)"
    return msg


def _check_crash_message(excinfo, item) -> str | None:
    """An exception inside a check (not the candidate's code), usually on a result of the wrong kind."""
    if "sub" not in getattr(item, "funcargs", {}) or excinfo.errisinstance(AssertionError):
        return None
    roots = (PROJECT_ROOT.resolve(), Path(item.path).resolve().parent)
    inner = None
    for entry in excinfo.traceback:
        try:
            path = Path(str(entry.path)).resolve()
        except OSError:
            continue
        if any(path.is_relative_to(r) for r in roots) and not {".venv", "site-packages"} & set(path.parts):
            inner = (entry, path)
    if inner is None:
        return None
    entry, path = inner
    lines = str(excinfo.value).strip().splitlines()
    text = lines[0][:300] + (" ..." if len(lines) > 1 or len(lines[0]) > 300 else "") if lines else ""
    return (f"{type(excinfo.value).__name__} inside the check (not in your code): {text}\n"
            f"  at {_rel(path)}:{entry.lineno + 1} in {_qualname(entry)}: {_source_line(path, entry.lineno + 1)}\n"
            f"  often a function returned the wrong kind of value (None from a missing `return`, a list or a "
            f"number instead of a tensor); the full traceback: pytest {_rel(item.path)} --tb=long")


def _timeout_message(excinfo, item, path: Path | None) -> str:
    qid = _self_check_question(item) if item is not None else None
    rest = f"\n  (the other self-checks of {qid} are skipped until this one finishes)" if qid else ""
    return _timeout_text(excinfo, path) + rest


def _timeout_text(excinfo, path: Path | None) -> str:
    text = str(excinfo.value)
    limit = text.split(">", 1)[1].split("s", 1)[0] if ">" in text else "?"
    entries = _frames_in(excinfo, path) if path else []
    if not entries:
        return (f"did not finish within the test's time limit ({limit} s): look for a loop that never ends "
                f"or a computation whose size is not bounded")
    inner, rel = entries[-1], _rel(path)
    return (f"{_qualname(entries[0])} did not finish within the test's time limit ({limit} s) and was stopped "
            f"at {rel} line {inner.lineno + 1}: {_source_line(path, inner.lineno + 1)}\n"
            f"  look for a loop that never ends (a condition that never becomes true, a counter never "
            f"advanced) or a computation whose size is not bounded; these inputs are small")


def _is_timeout(excinfo) -> bool:
    return type(excinfo.value).__name__ == "Failed" and str(excinfo.value).startswith("Timeout")


def friendly_message(excinfo, item=None) -> str | None:
    """The readable message for a failure, or None to keep pytest's own report."""
    if _is_timeout(excinfo):  # pytest-timeout
        return _timeout_message(excinfo, item, _submission_file(item) if item is not None else None)
    if excinfo.errisinstance(NotImplementedError):
        return _not_implemented_message(excinfo)
    if excinfo.errisinstance((CheckFailure, SubmissionError)):
        return str(excinfo.value)
    where = getattr(excinfo.value, "where", None)  # a ValueError etc. raised by the submission in the worker
    if isinstance(where, tuple) and len(where) == 3:
        lines = str(excinfo.value).strip().splitlines()
        return f"{where[0]} raised {type(excinfo.value).__name__}: {lines[0][:300] if lines else ''} " \
               f"({where[1]} line {where[2]})"
    if item is not None and item.config.getoption("tbstyle", "auto") == "auto" \
            and not excinfo.errisinstance((pytest.skip.Exception, KeyboardInterrupt, GraderFault)):
        try:
            return _crash_message(excinfo, item, _submission_file(item)) or _check_crash_message(excinfo, item)
        except Exception:  # noqa: BLE001 - e.g. an argument whose repr fails: pytest's own report then
            return None
    return None


def _self_check_question(item) -> str | None:
    """qNN when this test is a self-check beside its stub (exercises/qNN/test_*.py), else None."""
    path = Path(item.path)
    try:
        q = get(question_of(path))
    except (pytest.UsageError, KeyError):
        return None
    return q.qid if (path.parent / q.filename).exists() and path.parent.parent.name != "tests" else None


def pytest_collection_modifyitems(config: pytest.Config, items: list) -> None:
    """Each hidden test names its rubric part (user property ``rubric_part``, also in --junitxml; see
    grader/rubric.py): the grader reads it from the outcomes, never from the test's name again.
    Self-checks have no part, and the handout has no rubric module: it is imported for hidden tests only."""
    for item in items:
        path = Path(item.path)
        if path.parent.parent.name != "tests" or not _QDIR.match(path.parent.name):
            continue
        from .rubric import rubric
        part = rubric(path.parent.name).part_of(getattr(item, "originalname", item.name))
        if part is not None:
            item.user_properties.append((RUBRIC_PART, part.id))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """After a self-check ran out of time, the question's other self-checks are skipped (no long waits)."""
    qid = _self_check_question(item)
    if qid is not None and qid in item.config.stash.get(TIMED_OUT, ()):
        pytest.skip(f"not run: an earlier self-check of {qid} did not finish in time (fix that first)")


# Where trusted code lives: the grader, the hidden suites, and the Python, torch and pytest installations.
_TRUSTED = tuple({(PROJECT_ROOT / "grader").resolve(), (PROJECT_ROOT / "tests").resolve(),
                  *(Path(p).resolve() for p in (sys.prefix, sys.base_prefix, sys.exec_prefix))})


def grader_fault(excinfo) -> str | None:
    """The text of a fault of the grader itself, or None: the failure is the submission's.

    A fault is an instance of ``grader.loading.GraderFault`` itself, raised where every frame between the
    test and the ``raise`` is trusted code (``_TRUSTED``): a submission's own class of that name, a message
    that mentions it, or the class raised from a submission's frame (in-process) are the submission's
    failures like any other. In the isolated worker nothing the submission raises is ever more than a
    ``SubmissionError`` on this side.
    """
    if type(excinfo.value) is not GraderFault:
        return None
    for entry in excinfo.traceback:
        try:
            path = Path(str(entry.path)).resolve()
        except (OSError, ValueError):
            return None
        if not any(path.is_relative_to(root) for root in _TRUSTED):
            return None
    text = str(excinfo.value).strip()
    return text[:2000] or "GraderFault"


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    excinfo = call.excinfo
    if excinfo is None or call.when not in ("setup", "call", "teardown"):
        return None
    fault = grader_fault(excinfo)
    if fault is not None:  # before any report is built: reports copy the user properties
        item.user_properties.append((GRADER_FAULT, fault))
    try:
        message = friendly_message(excinfo, item)
    except Exception:  # noqa: BLE001 - never an internal error because of a message
        message = None
    if message is None:
        return None  # pytest's own report
    if _is_timeout(excinfo) and _self_check_question(item):
        item.config.stash.setdefault(TIMED_OUT, set()).add(_self_check_question(item))
    # Build the report as for a passing call (pytest's own constructor: sections, timings, keywords),
    # then mark it failed with the message: skips pytest's costly traceback formatting.
    call.excinfo = None
    try:
        report = pytest.TestReport.from_item_and_call(item, call)
    finally:
        call.excinfo = excinfo
    report.outcome = "failed"
    report.longrepr = OneLine(message, str(item.path), 0)
    return report


def failure_kind(excinfo, item=None) -> str:
    """The kind of a failure (``grader.outcomes.KINDS``), from the exception raised and where it was raised."""
    if grader_fault(excinfo) is not None:
        return "grader_fault"
    if _is_timeout(excinfo):
        return "timeout"
    if excinfo.errisinstance(NotImplementedError):
        return "not_implemented"
    if excinfo.errisinstance(SubmissionError):
        return "submission"
    if excinfo.errisinstance((AssertionError, pytest.fail.Exception)):
        return "check"
    if isinstance(getattr(excinfo.value, "where", None), tuple):  # raised by the submission in the worker
        return "raised"
    path = _submission_file(item) if item is not None else None
    if path is not None and _frames_in(excinfo, path):
        return "raised"
    return "error"


@pytest.hookimpl(wrapper=True, specname="pytest_runtest_makereport")
def pytest_runtest_makereport_kind(item: pytest.Item, call: pytest.CallInfo):
    """Every failed report says what kind of failure it is (user properties ``failure_kind`` and, for a
    stub, ``not_implemented_function``): set here from the exception, read by ``grader.outcomes``."""
    report = yield
    excinfo = call.excinfo
    if report.failed and excinfo is not None:
        try:
            kind = failure_kind(excinfo, item)
        except Exception:  # noqa: BLE001 - a kind is never worth an internal error
            kind = "error"
        report.user_properties.append((FAILURE_KIND, kind))
        if kind == "not_implemented":
            try:
                report.user_properties.append((NOT_IMPLEMENTED, _not_implemented_where(excinfo)[0]))
            except Exception:  # noqa: BLE001
                pass
    return report
