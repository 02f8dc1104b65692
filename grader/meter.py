"""What a submission's processes cost, read from OUTSIDE them (Linux /proc): CPU time and peak memory.

Nothing here runs in, or trusts, the submission's process: the trusted side reads the kernel's own
accounting of the processes under a root (the isolated workers' zygote, or this process when the
submission runs in-process).

- CPU time: ``snapshot(root)`` records, for every process in the tree under ``root``, its threads'
  run time in nanoseconds (``/proc/<pid>/task/<tid>/schedstat``) and its clock-tick totals
  (``/proc/<pid>/stat``: utime + stime of every thread, live or exited, + cutime + cstime of reaped
  children). ``used(a, b, wall)`` is the CPU time the tree spent between two snapshots, every thread
  and every process counted: a submission gains nothing from extra threads or processes. When a
  process appeared or vanished in between (its time could be lost with it), the charge is the most
  the machine could have given it: ``wall`` on every CPU.
- Peak memory: ``vm_peak(pid)`` is the kernel's high-water mark of a process's address space
  (``VmPeak``): it only ever grows, no system call lowers it, and a process cannot hide an allocation
  from it (every mapping, touched or not, counts). Read in a fresh worker forked from the zygote,
  its growth over the zygote's size is what that worker's whole life allocated at its peak.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

TICK = 1.0 / (os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100)
NCPU = os.cpu_count() or 1


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (every thread's children file)."""
    out: list[int] = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/children", encoding="ascii") as f:
                    out += [int(x) for x in f.read().split()]
            except OSError:
                continue
    except OSError:
        pass
    return out


def tree(root: int) -> list[int]:
    """``root`` and all its descendants (live or zombie), parents first."""
    out, todo, seen = [], [root], set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        out.append(pid)
        todo += children(pid)
    return out


def status_field(pid: int, name: str) -> int | None:
    """A figure from /proc/<pid>/status in bytes (kB fields) or as a number (``NSpid`` gives the first)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(name + ":"):
                    parts = line.split()
                    value = int(parts[1])
                    return value * 1024 if len(parts) > 2 and parts[2] == "kB" else value
    except (OSError, ValueError, IndexError):
        return None
    return None


def ns_pids(pid: int) -> list[int]:
    """``pid`` as seen from its own pid namespace and every one above it (host first): ``NSpid``."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("NSpid:"):
                    return [int(x) for x in line.split()[1:]]
    except (OSError, ValueError):
        return []
    return [pid]


def vm_peak(pid: int) -> int | None:
    return status_field(pid, "VmPeak")


def vm_size(pid: int) -> int | None:
    return status_field(pid, "VmSize")


@dataclass
class Proc:
    ticks: int  # utime + stime of every thread, live or exited: clock ticks
    child_ticks: int  # cutime + cstime: children it reaped
    threads: dict[int, int] = field(default_factory=dict)  # tid -> run time, ns (schedstat)


Snapshot = dict  # pid -> Proc


def _ticks(pid: int) -> tuple[int, int] | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            text = f.read()
    except OSError:
        return None
    fields = text[text.rfind(")") + 2:].split()  # the name may hold spaces and parentheses
    try:
        utime, stime, cutime, cstime = (int(x) for x in fields[11:15])  # fields 14-17 of stat
    except (ValueError, IndexError):
        return None
    return utime + stime, cutime + cstime


def _threads(pid: int) -> dict[int, int]:
    out = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat", encoding="ascii") as f:
                out[int(tid)] = int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            continue
    return out


def snapshot(root: int) -> Snapshot:
    snap: Snapshot = {}
    for pid in tree(root):
        t = _ticks(pid)
        if t is not None:
            snap[pid] = Proc(t[0], t[1], _threads(pid))
    return snap


def used(a: Snapshot, b: Snapshot, wall: float, exclude_tid: int | None = None) -> float:
    """CPU seconds the tree spent from snapshot ``a`` to ``b`` (``wall`` seconds apart).

    Per process: the exact sum of its threads' run time when the same threads are there at both ends,
    else its clock ticks (exited threads included). A process that appeared or vanished in between
    may have taken its time with it: then the tree is charged ``wall`` on every CPU (the most it could
    have used). ``exclude_tid``: a thread of the trusted side that shares the process (in-process
    grading), whose own work is not the submission's; its time is left out.
    """
    if set(a) != set(b):
        return max(NCPU * wall, _lower_bound(a, b, exclude_tid))
    return _lower_bound(a, b, exclude_tid)


def _lower_bound(a: Snapshot, b: Snapshot, exclude_tid: int | None) -> float:
    total = 0.0
    for pid in set(a) & set(b):
        pa, pb = a[pid], b[pid]
        mine = {t: pb.threads[t] - pa.threads.get(t, 0) for t in pb.threads}
        excluded = mine.pop(exclude_tid, 0) / 1e9 if exclude_tid is not None else 0.0
        exact = sum(mine.values()) / 1e9
        reaped = max(pb.child_ticks - pa.child_ticks, 0) * TICK  # children born and reaped in between
        if pa.threads and set(pa.threads) == set(pb.threads):
            total += max(exact, 0.0) + reaped  # the same threads: exact to the nanosecond
        else:  # threads came or went: the ticks count exited threads too
            total += max(exact, (pb.ticks - pa.ticks) * TICK - excluded, 0.0) + reaped
    return total
