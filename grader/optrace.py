"""Recording the torch operators a call really runs, whatever name reached them.

Two modes stacked around the call: a ``TorchFunctionMode`` sees the torch function the Python code
called (``rms_norm``, ``softmax``, a ``Tensor`` method, an ``OpOverload``), before any decomposition;
a ``TorchDispatchMode`` sees every ATen operator that reaches the dispatcher (``_softmax``,
``_safe_softmax``, ``native_batch_norm``, ``gelu_``, ``cat``), however it was called: a public
function, a private one (``torch._C._nn.gelu_``), ``torch.ops.aten``, a module, TorchScript.
Together they cover the composite ops that decompose before dispatch (``rms_norm`` shows up only in
the first, as its parts in the second).

Names are kept as plain strings, normalised (``aten::gelu_``, ``gelu.default`` -> ``gelu``), at most
``MAX_NAMES`` of them. ``grader.forbidden`` decides which are forbidden.

Used in two places, only while a forbidden-call test asks for it (nothing is traced elsewhere):
in-process (``record(accept=...)`` around the test's block, counting only operators run while a frame
of the submission is on the stack, so the test's own reference computations never count) and in the
isolated worker (``grader.worker``, around each call while the trusted side has tracing on). In the
worker the recording is at the submission's mercy, like everything there: a submission could pop the
modes or run its kernels in a thread the modes do not see. The static check of ``grader.forbidden``
therefore refuses, in a function with forbidden operator families, the names needed to do that (the
dispatch / torch-function mode stacks, ``torch.library``, dynamic lookups), and the integrity flags of
``grader.integrity`` show threads to the interviewer.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

MAX_NAMES = 2000
MAX_NAME_LEN = 100


def normalise(name: str) -> str:
    """``aten::gelu_`` / ``gelu_.default`` / ``gelu`` -> ``gelu``: the operator, without namespace,
    overload or in-place underscore (a leading underscore is kept: ``_softmax``)."""
    name = name.split("::")[-1].split(".")[0]
    if name.endswith("_") and not name.endswith("__"):
        name = name[:-1]
    return name[:MAX_NAME_LEN]


class _Recorder:
    """What both modes share: the names seen, and when they count."""

    def __init__(self, names: set[str], accept: Callable[[], bool]):
        super().__init__()
        self.names, self.accept = names, accept

    def seen(self, func) -> None:
        if len(self.names) < MAX_NAMES and self.accept():
            self.names.add(normalise(str(getattr(func, "__name__", "") or "")))


class _Functions(_Recorder, TorchFunctionMode):
    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.seen(func)
        return func(*args, **(kwargs or {}))


class _Operators(_Recorder, TorchDispatchMode):
    @classmethod
    def _should_skip_dynamo(cls) -> bool:  # no torch._dynamo wrapper: importing it costs seconds
        return False

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.seen(func)
        return func(*args, **(kwargs or {}))


def _always() -> bool:
    return True


@contextmanager
def record(names: set[str], accept: Callable[[], bool] = _always) -> Iterator[set[str]]:
    """Add to ``names`` every torch function and operator run inside the block (where ``accept()``)."""
    with _Functions(names, accept), _Operators(names, accept):
        yield names


def traced(fn: Callable, names: set[str]) -> Callable:
    """``fn`` recording into ``names`` (the worker's wrapper around one call)."""
    def run(*args, **kwargs):
        with record(names):
            return fn(*args, **kwargs)
    return run


def from_frames(filename: str | None, codes: set) -> Callable[[], bool]:
    """An ``accept`` that is true while a frame of the submission is on the stack: a frame of its file,
    or one running a code object of its functions (a notebook's cells have no file of their own)."""
    import sys

    def accept() -> bool:
        f = sys._getframe(1)
        while f is not None:
            code = f.f_code
            if code in codes or (filename is not None and code.co_filename == filename):
                return True
            f = f.f_back
        return False
    return accept


def code_objects(module) -> set:
    """Every code object of the functions and classes defined in ``module`` (nested ones included)."""
    import inspect
    import types
    seen: set = set()

    def add_code(code) -> None:
        if code in seen:
            return
        seen.add(code)
        for c in code.co_consts:
            if isinstance(c, types.CodeType):
                add_code(c)

    own = {getattr(module, "__name__", None), "__main__"}  # a notebook's cells run in __main__

    def add(obj, depth: int = 0) -> None:
        if isinstance(obj, (staticmethod, classmethod)):
            obj = obj.__func__
        if isinstance(obj, property):
            for f in (obj.fget, obj.fset, obj.fdel):
                if f is not None:
                    add(f, depth)
            return
        if inspect.isfunction(obj) and getattr(obj, "__module__", None) in own:
            add_code(obj.__code__)
        elif inspect.isclass(obj) and depth < 3 and getattr(obj, "__module__", None) in own:
            for v in vars(obj).values():
                add(v, depth + 1)

    for value in list(vars(module).values()) if module is not None else []:
        add(value)
    return seen
