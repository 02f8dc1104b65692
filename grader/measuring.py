"""Speed and memory of a submission, measured by trusted code from outside the submission's processes.

``sub._timing()`` (a context manager) gives a ``Meter`` for a speed race, ``sub._measure(name, ...)`` one call
with its peak memory. Both providers offer them:

- isolated (``grader.isolation``): the race runs in a FRESH worker started with a hard ``RLIMIT_NPROC`` of 1
  (set by the worker's start-up code, before the submission exists in it, and never raised again: the
  submission can start no thread and no process), with every other worker of the submission stopped
  (none can work for it). The meter reads the CPU time of the zygote's whole process tree from /proc.
  The memory call also runs in a fresh worker with that limit and a hard ``RLIMIT_AS``; its peak is the
  kernel's ``VmPeak`` of the worker, read here. Afterwards that worker is stopped: the next call gets an
  ordinary one.
- in-process (``grader.loading``, the candidates' self-checks and ``--no-isolate``): the meter reads this
  process (leaving out the trusted thread's own work while it runs the baseline) and ``_measure`` the
  resident-memory high-water mark of the call (``grader.loading.measured_call``). Nothing in-process is
  proof against a hostile submission; that is what the isolated grader is for.
"""
from __future__ import annotations

import contextlib
import os
import threading
import time
from typing import Any, Iterator

from . import meter

# Beyond what the call itself allocates, a worker's address space holds the boundary's copies: the
# decoded arguments, their private copies (grader.loading.call_on_copies) and the result with its encoding.
SLACK_BYTES = 16 << 20  # torch's first-use buffers, the decoder, the submission's import


class Meter:
    """CPU seconds of the submission's processes between two snapshots (``grader.meter``)."""

    def __init__(self, root: int | None, caller_tid: int | None = None, note: str = ""):
        self.root = root
        self.caller_tid = caller_tid  # in-process: the trusted thread, which also runs the submission's calls
        self.note = note

    @property
    def exact(self) -> bool:
        return self.root is not None

    def snapshot(self) -> meter.Snapshot:
        return meter.snapshot(self.root) if self.root is not None else {}

    def cost(self, a: meter.Snapshot, b: meter.Snapshot, wall: float, *, trusted: bool) -> float:
        """What the submission used from ``a`` to ``b``. ``trusted``: the trusted baseline ran meanwhile."""
        if self.root is None:  # cannot read: the submission's wall time (it cannot run threads here)
            return 0.0 if trusted else wall
        return meter.used(a, b, wall, exclude_tid=self.caller_tid if trusted else None)


@contextlib.contextmanager
def in_process_timing() -> Iterator[Meter]:
    yield Meter(os.getpid(), caller_tid=threading.get_native_id(), note="this process, every thread")


# --- isolated ---------------------------------------------------------------------------------------

def zygote_root(zygote) -> int | None:
    """The zygote's pid on this side (it may sit in its own pid namespace below ``unshare``)."""
    proc, hello = getattr(zygote, "proc", None), getattr(zygote, "hello", None) or {}
    own = hello.get("pid")
    if proc is None or type(own) is not int:
        return None
    for pid in meter.tree(proc.pid):
        ns = meter.ns_pids(pid)
        if ns and ns[-1] == own and (pid == own or len(ns) > 1):
            return pid
    return None


def worker_pid(zygote, wid: int) -> int | None:
    """A worker's pid on this side, from the pid the zygote saw (``NSpid`` at the zygote's level)."""
    root, seen = zygote_root(zygote), getattr(zygote, "ns_pid", {}).get(wid)
    if root is None or type(seen) is not int:
        return None
    level = len(meter.ns_pids(root)) - 1
    for pid in meter.tree(root)[1:]:
        ns = meter.ns_pids(pid)
        if len(ns) > level and ns[level] == seen:
            return pid
    return None


@contextlib.contextmanager
def dedicated_worker(session, **limits) -> Iterator[Any]:
    """A fresh worker for ``session`` with these limits (e.g. nproc=1), alone: the submission's other
    workers are stopped first; the dedicated one is stopped afterwards."""
    provider = session.provider
    for other in list(provider._sessions.values()):
        if other is not session:
            other.stop()
    session.stop()
    session.limit_override = dict(limits)
    try:
        yield session.ensure()
    finally:
        session.limit_override = {}
        session.stop()


@contextlib.contextmanager
def isolated_timing(session) -> Iterator[Meter]:
    with dedicated_worker(session, nproc=1):
        root = zygote_root(session.provider.zygote)
        yield Meter(root, note="the submission's processes (a fresh worker that can start no thread)")


def _tensor_bytes(obj: Any, depth: int = 0) -> int:
    import torch
    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if depth > 4:
        return 0
    if isinstance(obj, (list, tuple)):
        return sum(_tensor_bytes(x, depth + 1) for x in obj)
    if isinstance(obj, dict):
        return sum(_tensor_bytes(x, depth + 1) for x in obj.values())
    return 0


def isolated_peak_memory(session, name: str, args: tuple, kwargs: dict, limit: int | None) -> tuple[Any, dict]:
    """Call ``name`` alone in a fresh worker and read its peak address space from here.

    ``peak_bytes``: the worker's ``VmPeak`` minus the zygote's size (what it starts with) minus the
    boundary's own copies (2x the arguments, 2x the result); None when this machine does not say.
    ``limit``: the call may allocate about this much (the worker's hard RLIMIT_AS leaves twice that plus
    the boundary's copies and some slack), so an allocation far beyond it fails at once.
    """
    in_bytes = _tensor_bytes((args, kwargs))
    room = session.provider.limits.memory if limit is None else 4 * in_bytes + 2 * limit + SLACK_BYTES
    with dedicated_worker(session, nproc=1, memory=int(room)) as conn:
        zygote = session.provider.zygote
        base = meter.vm_size(zygote_root(zygote) or -1)
        pid = worker_pid(zygote, conn.wid)
        t0 = time.perf_counter()
        result = session.call(("mod", name), args, kwargs, what=name)
        seconds = time.perf_counter() - t0
        peak = meter.vm_peak(pid) if pid is not None else None
    grown = None
    if peak is not None and base is not None:
        grown = max(0, peak - base - 2 * in_bytes - 2 * _tensor_bytes(result))
    return result, {"seconds": seconds, "peak_bytes": grown,
                    "how": "address-space peak (VmPeak) of a fresh worker, read by the grader"}
