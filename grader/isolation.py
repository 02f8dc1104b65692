"""The grader's provider behind ``sub`` with ``--isolate``: the submission runs in an isolated worker.

``WorkerProvider(root).get(qid)`` returns a ``SubmissionProxy``: attribute access gives callables and
values of the submission's module, exactly as ``grader.loading.ModuleView`` does, but every call
crosses to a worker process and back as plain data (``grader.wire``). The trusted side never
unpickles anything and never runs code from the worker.

How the worker is isolated (``provider.isolation`` says what the machine allowed):

- A zygote process is started once per provider with a cleaned environment as ``python -I`` inside
  bubblewrap (``grader.sandbox.bwrap``): a read-only root of the system, the Python install, the venv
  and a copy of the worker's own grader modules only (the project: solutions/, tests/, mutants/, .git,
  the submission's folder, /home and the host's /tmp are simply not there), no network, capabilities
  dropped, and libseccomp's allowlist (``grader.sandbox.seccomp``). It imports torch once.
- Per question it forks a worker into its own pid and mount namespace (pid 1 there, its own /proc and
  /tmp; killing it kills everything it started), as a unique unprivileged uid, with rlimits (address
  space, CPU, file size, open files, processes), its own seccomp allowlist, and a directory (0700)
  holding only ``qNN/<module>.py`` and the TRUSTED copies of the question's given modules. The
  worker's stdout/stderr go to a size-capped log whose tail appears in crash, time-out and import
  messages.
- Each call has a wall-clock time-out; a time-out or a crash stops that worker and the next call gets
  a fresh one, so one bad test costs neither the rest of its question nor the other questions. A
  function that timed out ``max_timeouts_per_function`` times (2) is not run again, and after
  ``max_timeouts`` (4) in one question its remaining calls fail at once: grading time stays bounded.
- Where bubblewrap is missing or refused the zygote is a plain process (rlimits, the seccomp
  allowlist, own session, a unique uid when the grader runs as root: a submission never runs as root
  outside a pid namespace), a loud warning is printed and ``isolation`` starts with "REDUCED": the file
  system and the network are then NOT hidden. ``--require-isolation`` / ``LLMGRADE_REQUIRE_ISOLATION=1``
  refuses instead (``IsolationUnavailable``; the CLI exits 3). ``LLMGRADE_ISOLATION=bwrap|process``
  forces a level (for tests).
"""
from __future__ import annotations

import atexit
from pathlib import Path

from .loading import SubmissionError
from .questions import PROJECT_ROOT, get
from .sandbox.connection import QuestionSession
from .sandbox.launch import IsolationUnavailable, REQUIRE_ENV, WorkerLimits, ZygoteClient, full_isolation_problem, \
    isolation_required, zygote_for  # noqa: F401 - the sandbox's public names, used by the CLI and the tests
from .sandbox.proxies import RemoteFunction, RemoteObject, SubmissionProxy  # noqa: F401



class WorkerProvider:
    """Runs each question's submission in an isolated worker (see the module docstring)."""

    def __init__(self, root: Path, *, call_timeout: float | None = None, memory_limit: int | None = None,
                 cpu_limit: int | None = None, max_alive: int = 3, max_timeouts: int = 4,
                 max_timeouts_per_function: int = 2, mode: str = "auto"):
        self.root = Path(root).resolve()
        base = WorkerLimits()
        self.limits = WorkerLimits(call_timeout=float(call_timeout or base.call_timeout),
                             memory=int(memory_limit or base.memory), cpu=int(cpu_limit or base.cpu))
        self.max_alive = max_alive
        self.max_timeouts = max_timeouts  # per question: then its remaining calls fail at once
        self.max_timeouts_per_function = max_timeouts_per_function  # per function of a question
        self.zygote = zygote_for(self.limits, mode)  # adopts the one grading started early, if any
        self._sessions: dict[str, QuestionSession] = {}
        self._proxies: dict[str, SubmissionProxy] = {}
        self._alive: list[QuestionSession] = []
        self._closed = False
        atexit.register(self.close)

    @property
    def isolation(self) -> str:
        """What the machine allowed, in words (starts with FULL or REDUCED isolation)."""
        return self.zygote.description()

    @property
    def isolation_level(self) -> str:
        """``full`` (bubblewrap and the seccomp allowlist) or ``reduced`` (plain processes)."""
        return self.zygote.level_name

    def worker_limits(self) -> dict:
        lim = self.limits
        return {"memory": lim.memory, "cpu": lim.cpu, "fsize": lim.fsize, "nofile": lim.nofile, "nproc": lim.nproc}

    def get(self, qid: str) -> SubmissionProxy:
        if self._closed:
            raise SubmissionError("the grader's worker pool is closed")
        if qid not in self._proxies:
            session = QuestionSession(self, get(qid))
            self._sessions[qid] = session
            self._proxies[qid] = SubmissionProxy(session)
        return self._proxies[qid]

    def touch(self, session: QuestionSession) -> None:
        """Keep at most ``max_alive`` workers: stop the least recently used one."""
        if session in self._alive:
            if self._alive[-1] is not session:
                self._alive.remove(session)
                self._alive.append(session)
            return
        self._alive.append(session)
        while len(self._alive) > self.max_alive:
            old = self._alive.pop(0)
            old.stop()
        self._alive = [s for s in self._alive if s.conn is not None and s.conn.alive or s is session]

    def close(self) -> None:
        global _last_description
        if self._closed:
            return
        self._closed = True
        if self.zygote.hello is not None:
            _last_description = self.zygote.description()
        for session in self._sessions.values():
            if session.conn is not None:
                session.conn.alive = False
                try:
                    session.conn.sock.close()
                except OSError:
                    pass
        self.zygote.close()
        for session in self._sessions.values():
            if session.conn is not None:
                session.conn.log.settle(1.0)
        try:
            atexit.unregister(self.close)
        except Exception:  # noqa: BLE001
            pass


_last_description: str | None = None


def describe_isolation() -> str:
    """What the most recent provider of this process achieved (or a fresh probe when there was none)."""
    if _last_description is None:
        provider = WorkerProvider(PROJECT_ROOT / "exercises")
        try:
            return provider.isolation
        finally:
            provider.close()
    return _last_description
