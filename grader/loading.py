"""Loading a submission's module in this process, by path, so two roots never collide.

This is the plain provider behind the ``sub`` fixture; the grader swaps it for a proxy to an
isolated worker (``grader.isolation``). Both raise ``SubmissionError`` with a readable message.
"""
from __future__ import annotations

import hashlib
import importlib.util
import sys
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

from .questions import PROJECT_ROOT, Question, get

TRUSTED_EXERCISES = PROJECT_ROOT / "exercises"


class SubmissionError(Exception):
    """The submission could not be used for this test: missing file or function, import error, crash."""


class GraderFault(Exception):
    """The grading machinery itself failed (not the candidate's fault): grading must stop, not score 0.

    Only this class raised by trusted code counts, and the plugin says so with a structured flag (the
    ``GRADER_FAULT`` user property of the test, ``grader.plugin``): never a word in a failure's text.
    """


GRADER_FAULT = "grader_fault"  # the test's user property (and JUnit property) naming a fault of the grader


class ChangedInPlace(SubmissionError):
    """A call of the submission changed one of its arguments; ``which`` is "argument 2" or "argument `mask`"."""

    def __init__(self, name: str, which: str):
        super().__init__(f"{name}: {which} was changed in place; functions must not modify their inputs "
                         f"(work on a copy, e.g. x = x.clone())")
        self.which = which


def given_module(qid: str, name: str) -> ModuleType:
    """A module shipped with an exercise (e.g. q24's ``tiny_gpt``), always the trusted copy."""
    path = TRUSTED_EXERCISES / qid / f"{name}.py"
    mod = sys.modules.get(name)
    if mod is not None and Path(getattr(mod, "__file__", "")).resolve() == path.resolve():
        return mod
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader, path
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def load_path(path: Path, unique_name: str) -> ModuleType:
    """Execute ``path`` as a fresh module registered under ``unique_name``."""
    spec = importlib.util.spec_from_file_location(unique_name, path)
    if spec is None or spec.loader is None:
        raise SubmissionError(f"cannot load {path}")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[unique_name] = mod
    try:
        spec.loader.exec_module(mod)
    except SyntaxError as e:
        sys.modules.pop(unique_name, None)
        line = (e.text or "").rstrip("\n")
        caret = f"\n    {line}\n    {' ' * max((e.offset or 1) - 1, 0)}^" if line.strip() else ""
        raise SubmissionError(f"syntax error at line {e.lineno}: {e.msg}{caret}") from None
    except BaseException as e:  # noqa: BLE001 - SystemExit at import time is a broken module too
        sys.modules.pop(unique_name, None)
        tb = traceback.extract_tb(e.__traceback__)
        line = next((f.lineno for f in reversed(tb) if f.filename == str(path)), None)
        raise SubmissionError(f"importing {path.name} failed"
                              f"{f' at line {line}' if line else ''}: {type(e).__name__}: {e}") from None
    return mod


def _proc_status_bytes(field: str) -> int | None:
    """A memory figure of this process from /proc/self/status (e.g. VmRSS, VmHWM), in bytes."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def measured_call(fn, *args, **kwargs) -> tuple[Any, dict]:
    """Run ``fn`` and measure the peak resident memory it added (Linux: VmHWM after a reset).

    Writing 5 to /proc/self/clear_refs resets the process's peak RSS to its current RSS, so the peak
    read after the call is the high-water mark of this call alone. torch on CPU allocates through
    malloc and touches what it allocates, so a T x T score matrix shows up here in full (blocks above
    glibc's mmap threshold, at most 32 MiB, are always fresh mappings; smaller ones may reuse freed
    heap pages, which malloc_trim hands back to the kernel first).
    ``peak_bytes`` is None where the kernel does not offer this. In-process only: the isolated grader
    reads a fresh worker's peak from outside it (``grader.measuring``), never this.
    """
    import ctypes
    import gc
    import time
    gc.collect()
    try:  # hand freed heap pages back to the kernel, so reused memory counts as growth too
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    reset = False
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
        reset = True
    except OSError:
        pass
    base = _proc_status_bytes("VmRSS")
    t0 = time.perf_counter()
    result = fn(*args, **kwargs)
    seconds = time.perf_counter() - t0
    peak = _proc_status_bytes("VmHWM")
    grown = (peak - base) if (reset and peak is not None and base is not None) else None
    return result, {"seconds": seconds, "peak_bytes": grown, "how": "resident-memory peak of this process"}


def _private_copy(value: Any) -> Any:
    """What the submission receives: tensors, lists, tuples and dicts copied; anything else as it is."""
    import torch
    if isinstance(value, torch.Tensor):
        return value.clone()
    if isinstance(value, list):
        return [_private_copy(v) for v in value]
    if isinstance(value, tuple) and type(value) is tuple:
        return tuple(_private_copy(v) for v in value)
    if isinstance(value, dict):
        return {k: _private_copy(v) for k, v in value.items()}
    return value


def _same(a: Any, b: Any) -> bool:
    """Equal values (NaN equal to NaN); objects that were not copied count as the same."""
    import torch
    if isinstance(a, torch.Tensor):
        if not isinstance(b, torch.Tensor) or a.shape != b.shape or a.dtype != b.dtype:
            return False
        if a.is_floating_point() or a.is_complex():
            return bool(torch.equal(torch.isnan(a), torch.isnan(b))) and \
                bool(torch.equal(a.nan_to_num(0.0), b.nan_to_num(0.0)))
        return bool(torch.equal(a, b))
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return True  # other objects are passed through, not copied


def is_guarded(value: Any) -> bool:
    """Calls of the submission's functions are guarded (its classes and their objects are not)."""
    import inspect
    return inspect.isfunction(value)


def call_on_copies(fn, args: tuple, kwargs: dict, run=None) -> tuple[Any, str | None]:
    """``run(fn, *copies, **copies)`` (default: ``fn(...)``) on private copies of the arguments.

    Returns the result and which argument the call changed in place ("argument 2", "argument `mask`"),
    or None. Changes are found by value, so an in-place operation that changes nothing (``x.add_(0)``)
    is no change. The one rule of both providers: ``guard_inputs`` here, the isolated worker's calls
    (``grader.worker``).
    """
    c_args, c_kwargs = _private_copy(args), _private_copy(kwargs)
    result = fn(*c_args, **c_kwargs) if run is None else run(fn, *c_args, **c_kwargs)
    for i, (orig, seen) in enumerate(zip(args, c_args)):
        if not _same(orig, seen):
            return result, f"argument {i + 1}"
    for k in kwargs:
        if not _same(kwargs[k], c_kwargs[k]):
            return result, f"argument `{k}`"
    return result, None


def guard_inputs(name: str, fn):
    """Call ``fn`` on private copies of its arguments and fail if it changed any of them.

    The contract says functions never modify their inputs. Copying keeps the caller's tensors
    pristine, so a test that computes the expected value from an argument after the call can never be
    fooled by a submission that rewrote it (say, a mask set to all True); the isolated worker applies
    the same rule (``call_on_copies``). An exception the call raises is what the caller sees.
    """
    import functools

    @functools.wraps(fn)
    def guarded(*args, **kwargs):
        result, changed = call_on_copies(fn, args, kwargs)
        if changed:
            raise ChangedInPlace(name, changed)
        return result

    return guarded


class ModuleView:
    """A module seen through attribute access only; a missing function is a clear SubmissionError."""

    def __init__(self, question: Question, module: ModuleType | None, label: str, error: str | None = None):
        self._question = question
        self._module = module
        self._label = label
        self._error = error
        self._path: Path | None = None  # the submitted file (read as text by static checks)

    def _measure(self, name: str, *args, _limit_bytes: int | None = None, **kwargs) -> tuple[Any, dict]:
        """Call ``name`` and report {'seconds', 'peak_bytes'}: resident memory growth during the call
        (``_limit_bytes`` is for the isolated worker's hard limit; this process cannot be limited)."""
        getattr(self, name)  # a missing name is the same SubmissionError as anywhere else
        fn = getattr(self._module, name)
        if not is_guarded(fn):
            return measured_call(fn, *args, **kwargs)
        (result, stats), changed = call_on_copies(fn, args, kwargs, run=measured_call)  # copies made before
        if changed:
            raise ChangedInPlace(name, changed)
        return result, stats

    def _timing(self):
        """A context manager giving the ``grader.measuring.Meter`` of a speed race (this process)."""
        from .measuring import in_process_timing
        return in_process_timing()

    def _vjp(self, name: str, args: tuple, kwargs: dict | None = None, *, wrt, cotangent) -> dict:
        """Run ``name`` forward and backward (``grader.vjp``): its output, gradients and grad_fn flags."""
        from . import vjp
        vjp.validate(args, kwargs or {}, wrt)
        return vjp.vjp_call(getattr(self, name), args, kwargs or {}, wrt, cotangent)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        if self._error is not None:
            raise SubmissionError(self._error)
        try:
            value = getattr(self._module, name)
        except AttributeError:
            import difflib
            close = difflib.get_close_matches(name, [n for n in dir(self._module) if not n.startswith("_")], n=1)
            maybe = f" (did you mean `{close[0]}`?)" if close else ""
            raise SubmissionError(f"{self._label} defines no `{name}`{maybe}") from None
        return guard_inputs(name, value) if is_guarded(value) else value

    def __repr__(self) -> str:
        return f"<submission {self._label}>"


def question_dir_label(root: Path, q: Question) -> str:
    try:
        rel = (root / q.qid / q.filename).resolve().relative_to(Path.cwd().resolve())
        return str(rel)
    except ValueError:
        return f"{root.name}/{q.qid}/{q.filename}"


class InProcessProvider:
    """Loads ``ROOT/qNN/<module>.py`` once per question, in this process."""

    isolation = "none (in-process)"

    def __init__(self, root: Path):
        self.root = Path(root).resolve()
        self._tag = hashlib.sha1(str(self.root).encode()).hexdigest()[:8]
        self._cache: dict[str, ModuleView] = {}

    def get(self, qid: str) -> ModuleView:
        if qid not in self._cache:
            self._cache[qid] = self._load(get(qid))
        return self._cache[qid]

    def _load(self, q: Question) -> ModuleView:
        label = question_dir_label(self.root, q)
        path = self.root / q.qid / q.filename
        for name in q.given:  # given modules resolve to the trusted copies
            given_module(q.qid, name)
        if not path.exists():
            return ModuleView(q, None, label, error=f"{label} is missing")
        try:
            mod = load_path(path, f"_submission_{self._tag}_{q.qid}_{q.module}")
        except SubmissionError as e:
            view = ModuleView(q, None, label, error=f"{label}: {e}")  # e.g. "…/norms.py: syntax error at line 3"
            view._path = path
            return view
        view = ModuleView(q, mod, label)
        view._path = path
        return view

    def close(self) -> None:
        pass
