"""The grader's provider behind ``sub`` with ``--isolate``: the submission runs in an isolated worker.

``WorkerProvider(root).get(qid)`` returns a ``SubmissionProxy``: attribute access gives callables and
values of the submission's module, exactly as ``grader.loading.ModuleView`` does, but every call
crosses to a worker process and back as plain data (``grader.wire``). The trusted side never
unpickles anything and never runs code from the worker.

How the worker is isolated (``provider.isolation`` says what the machine allowed):

- A zygote process is started once per provider with a cleaned environment as ``python -I``, where
  possible inside ``unshare`` (new mount, pid, net, ipc, uts namespaces; as a user namespace when not
  root). It ``pivot_root``s into a minimal read-only root holding the system dirs, the Python install
  and the venv only: the project (solutions/, tests/, mutants/, .git), the submission's folder, /tmp,
  /home and the rest of the machine are simply not there; there is no network. It imports torch once.
- Per question it forks a worker into a new pid namespace (killing the worker kills everything it
  started), with a unique unprivileged uid, no_new_privs, a seccomp filter (it may signal only itself,
  never ptrace), rlimits (address space, CPU, file size, open files, processes), and a scratch
  directory (a tmpfs of its own) holding only ``qNN/<module>.py`` and the TRUSTED copies of the
  question's given modules. The worker's stdout/stderr go to a size-capped log whose tail appears in
  crash, time-out and import messages.
- Each call has a wall-clock time-out; a time-out or a crash stops that worker and the next call gets
  a fresh one, so one bad test costs neither the rest of its question nor the other questions. A
  function that timed out ``max_timeouts_per_function`` times (2) is not run again, and after
  ``max_timeouts`` (4) in one question its remaining calls fail at once: grading time stays bounded.
- Where ``unshare`` is refused the zygote is a plain process (rlimits, seccomp, own session, a unique
  uid when the grader runs as root: a submission never runs as root outside a pid namespace), and
  ``isolation`` says so: the file system and the network are then NOT hidden.
  ``LLMGRADE_ISOLATION=namespaces|userns|process`` forces a level (for tests).
"""
from __future__ import annotations

import atexit
import itertools
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from . import wire
from .loading import TRUSTED_EXERCISES, ChangedInPlace, GraderFault, SubmissionError, given_module, \
    question_dir_label
from .questions import PROJECT_ROOT, Question, get
from .worker_main import _children  # stdlib-only module: importing it here runs nothing

DEFAULT_CALL_TIMEOUT = 60.0
MAX_SOURCE_BYTES = 4 << 20

PASS_THROUGH = {"ValueError": ValueError, "TypeError": TypeError, "IndexError": IndexError,
                "KeyError": KeyError, "ZeroDivisionError": ZeroDivisionError,
                "OverflowError": OverflowError, "RuntimeError": RuntimeError}
SIGNAL_TEXT = {
    signal.SIGKILL: "killed by SIGKILL (often: out of memory)",
    signal.SIGXCPU: "CPU time limit exceeded (SIGXCPU)",
    signal.SIGXFSZ: "file size limit exceeded (SIGXFSZ)",
    signal.SIGSEGV: "segmentation fault (SIGSEGV)",
    signal.SIGABRT: "aborted (SIGABRT)",
    signal.SIGBUS: "bus error (SIGBUS)",
}


@dataclass(frozen=True)
class Limits:
    call_timeout: float = DEFAULT_CALL_TIMEOUT  # wall-clock seconds per call (and per import)
    memory: int = 4 << 30  # address space a worker may add to what it starts with (RLIMIT_AS)
    cpu: int = 600  # CPU seconds per worker (RLIMIT_CPU)
    fsize: int = 64 << 20  # bytes per file written (RLIMIT_FSIZE)
    nofile: int = 256  # open files (RLIMIT_NOFILE)
    nproc: int = 64  # processes and threads of the worker's uid (RLIMIT_NPROC)


class _Timeout(Exception):
    pass


class _Crash(Exception):
    pass


class _Protocol(Exception):
    pass


class _TooLarge(_Protocol):
    """A reply over the wire's limits (``grader.wire.Limits``): the text says what and the limit."""


def _clean(text: str, limit: int = 4000) -> str:
    """Untrusted text for a message: no control characters, bounded length."""
    if not isinstance(text, str):
        return "<not text>"
    text = re.sub(r"[\x00-\x08\x0b-\x1f\x7f]", "?", text)
    return text if len(text) <= limit else text[:limit] + " ..."


# --- logs -----------------------------------------------------------------------------------------

class LogTail:
    """Drains a pipe in a thread, keeping the last ``cap`` bytes (the log is size-capped)."""

    def __init__(self, fd: int, cap: int = 64 << 10):
        self.fd = fd
        self.cap = cap
        self.total = 0
        self.buf = bytearray()
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._drain, name="grader-log", daemon=True)
        self.thread.start()

    def _drain(self) -> None:
        try:
            while True:
                chunk = os.read(self.fd, 65536)
                if not chunk:
                    break
                with self.lock:
                    self.total += len(chunk)
                    self.buf += chunk
                    if len(self.buf) > self.cap:
                        del self.buf[:len(self.buf) - self.cap]
        except OSError:
            pass
        finally:
            try:
                os.close(self.fd)
            except OSError:
                pass

    def settle(self, timeout: float = 0.5) -> None:
        self.thread.join(timeout)

    def text(self) -> str:
        with self.lock:
            return bytes(self.buf).decode("utf-8", "replace")

    def tail(self, lines: int = 8, chars: int = 800) -> str:
        text = _clean(self.text().rstrip(), 10 ** 9)
        if not text:
            return ""
        last = text.splitlines()[-lines:]
        out = "\n".join("    " + line[-200:] for line in last)
        if len(out) > chars:
            out = out[-chars:]
        more = " (truncated)" if self.total > len(self.buf) else ""
        return f"\n  worker output (last lines{more}):\n{out}"


# --- the zygote, seen from here -------------------------------------------------------------------

BOOT = ("import sys; sys.path.insert(0, {path!r}); import grader.worker_main as m; del sys.path[0]; "
        "m.boot({fd})")
PRELOAD = ("math", "fractions", "dataclasses", "functools", "itertools", "collections", "heapq", "re",
           "typing", "statistics", "decimal", "ast", "operator", "string", "random", "bisect",
           "torch.nn.functional", "torch.nn")


def _clean_env(home: str) -> dict:
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
           "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "HOME": home, "TMPDIR": home}
    env.update({k: v for k, v in os.environ.items() if k.startswith("OPENBLAS_")})
    return env




def _traversable(path: Path) -> bool:
    """Every directory from / down to ``path`` lets other users through."""
    path = Path(os.path.realpath(path))
    return all(os.stat(p).st_mode & 0o001 for p in [path, *path.parents])


def _set_pdeathsig() -> None:  # runs in the child between fork and exec
    try:
        import ctypes
        ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)
    except Exception:  # noqa: BLE001
        pass


class Zygote:
    """Starts the zygote (trying the strongest isolation first) and talks to it."""

    LEVELS_ROOT = ("namespaces", "userns", "process")
    LEVELS_USER = ("userns", "process")

    def __init__(self, limits: Limits, mode: str = "auto"):
        self.limits = limits
        self.scratch = Path(tempfile.mkdtemp(prefix="llmgrade-"))
        os.chmod(self.scratch, 0o755)
        mode = os.environ.get("LLMGRADE_ISOLATION", mode) if mode == "auto" else mode
        if mode == "auto":
            levels = self.LEVELS_ROOT if os.geteuid() == 0 else self.LEVELS_USER
            if not shutil.which("unshare"):
                levels = ("process",)
        elif mode in ("namespaces", "userns", "process"):
            levels = (mode,)
        else:
            raise GraderFault(f"unknown isolation mode {mode!r} (auto, namespaces, userns, process)")
        self.levels = list(levels)
        self.level: str | None = None
        self.hello: dict | None = None
        self.setup_notes: list[str] = []
        self.failures: list[str] = []
        self.proc: subprocess.Popen | None = None
        self.ctl: socket.socket | None = None
        self.log: LogTail | None = None
        self.lock = threading.RLock()
        self.closed = False
        self.extra_dirs: list[Path] = []
        self.ns_pid: dict[int, int] = {}  # worker id -> its pid as the zygote sees it (grader.measuring)
        self._launch()

    # starting
    def _launch(self) -> None:
        level = self.levels.pop(0)
        self.level = level
        newroot = self.scratch / f"root-{level}"
        workdir = self.scratch / "work"
        if level == "process" and os.geteuid() == 0 and not _traversable(self.scratch):
            # the workers run as other uids here and must reach their files: a world-traversable place
            self.extra_dirs.append(Path(tempfile.mkdtemp(prefix="llmgrade-work-", dir="/tmp")))
            workdir = self.extra_dirs[-1]
        for d in (newroot, workdir):
            d.mkdir(exist_ok=True)
            os.chmod(d, 0o755)
        parent, child = socket.socketpair()
        boot = BOOT.format(path=str(Path(__file__).resolve().parent.parent), fd=child.fileno())
        python = [sys.executable, "-I", "-c", boot, str(self.scratch)]  # the scratch path names its processes
        ns = ["--mount", "--pid", "--net", "--ipc", "--uts", "--fork", "--kill-child", "--"]
        argv = {"namespaces": ["unshare", *ns, *python],
                "userns": ["unshare", "--user", "--map-root-user", *ns, *python],
                "process": python}[level]
        r, w = os.pipe()
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=w, stderr=w,
                                     pass_fds=(child.fileno(),), env=_clean_env(str(workdir)),
                                     cwd=str(workdir), start_new_session=True, preexec_fn=_set_pdeathsig)
        os.close(w)
        child.close()
        self.log = LogTail(r)
        self.ctl = parent
        config = {"sandbox": level != "process", "root_ns": level == "namespaces", "newroot": str(newroot),
                  "workdir": str(workdir), "keep": self._keep_paths(), "preload": list(PRELOAD)}
        data = json.dumps(config).encode()
        try:
            parent.sendall(len(data).to_bytes(8, "little") + data)
        except OSError:
            pass

    @staticmethod
    def _keep_paths() -> list[str]:
        """The Python install and the venv (read-only in the worker); nothing else of the project."""
        project = str(PROJECT_ROOT.resolve())
        keep = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix), os.path.abspath(sys.prefix)}
        for p in sys.path:
            if not p or not os.path.isdir(p):
                continue
            real = os.path.realpath(p)
            inside_project = real == project or real.startswith(project + "/")
            inside_venv = any(real.startswith(os.path.realpath(v) + "/") for v in (sys.prefix, sys.base_prefix))
            if inside_project and not inside_venv:
                continue
            keep.add(real)
        return sorted(keep)

    def _read_json(self, deadline: float) -> dict | None:
        try:
            n = int.from_bytes(_recv_exact(self.ctl, 8, deadline), "little")
            if n > 1 << 20:
                return None
            return json.loads(_recv_exact(self.ctl, n, deadline))
        except (_Timeout, _Crash, ValueError):
            return None

    def ready(self) -> None:
        """Wait until the zygote says hello, falling back level by level."""
        with self.lock:
            while self.hello is None:
                if self.closed:
                    raise GraderFault("the grader's worker pool was closed")
                first = self._read_json(time.monotonic() + 120)
                second = None
                if first is not None and first.get("setup") == "ok":
                    self.setup_notes = list(first.get("notes", []))
                    second = self._read_json(time.monotonic() + 300)
                if second is not None and second.get("hello"):
                    self.hello = second
                    break
                why = (first or {}).get("setup_failed") or (second or {}).get("setup_failed") or \
                    (self.log.tail(4, 400).strip() if self.log else "") or "it exited"
                self.failures.append(f"{self.level}: {_clean(str(why), 300)}")
                self._stop_process()
                if not self.levels:
                    raise GraderFault("the grader could not start its worker process: " + "; ".join(self.failures))
                self._launch()

    def description(self) -> str:
        self.ready()
        lim = self.limits
        h = self.hello or {}
        drop = h.get("drop_uid")
        if self.level in ("namespaces", "userns"):
            ns = "new mount, pid, net, ipc and uts namespaces" + (" inside a user namespace" if self.level == "userns" else "")
            who = "a unique unprivileged uid" if drop else ("uid 0 of the user namespace without capabilities"
                                                           if self.level == "userns" else "uid 0")
            text = (f"worker processes forked from a zygote in {ns}; pivot_root into a minimal read-only root "
                    f"(system dirs, Python, venv; no project, solutions, tests, submissions, /home, /tmp of "
                    f"the host; no network); each worker in its own pid namespace as {who}")
        else:
            who = "a unique unprivileged uid" if drop else "the grader's own (unprivileged) uid"
            text = (f"plain worker processes (unshare refused: {'; '.join(self.failures) or 'not tried'}), "
                    f"own session, as {who}; the file system and network are NOT hidden")
        notes = list(self.setup_notes) + list(h.get("notes", []))
        text += (f"; rlimits AS=start+{lim.memory >> 20} MiB, CPU={lim.cpu} s, NPROC={lim.nproc}, "
                 f"FSIZE={lim.fsize >> 20} MiB, NOFILE={lim.nofile}; wall-clock limit {lim.call_timeout:g} s per call")
        if notes:
            text += " (" + "; ".join(notes) + ")"
        return text

    # requests
    def _send(self, obj: Any, fds: list[int] | None = None) -> None:
        if fds:
            socket.send_fds(self.ctl, [b"F"], fds)
        else:
            self.ctl.sendall(b"M")
        wire.send_parts(self.ctl, wire.Encoder().message(obj))

    def _recv(self, timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        body, _ = _recv_frame(self.ctl, deadline, wire.Limits(max_message=1 << 20, max_tensor=0))
        return wire.Decoder(body).decode()

    def spawn(self, spec: dict) -> tuple[int, socket.socket, LogTail]:
        self.ready()
        with self.lock:
            if self.closed:
                raise GraderFault("the grader's worker pool was closed")
            mine, theirs = socket.socketpair()
            for opt in (socket.SO_SNDBUF, socket.SO_RCVBUF):
                for sock in (mine, theirs):
                    try:
                        sock.setsockopt(socket.SOL_SOCKET, opt, 4 << 20)
                    except OSError:
                        pass
            r, w = os.pipe()
            try:
                self._send(("spawn", spec), [theirs.fileno(), w])
            finally:
                theirs.close()
                os.close(w)
            log = LogTail(r)
            try:
                reply = self._recv(60)
            except (_Timeout, _Crash, _Protocol, wire.WireError) as e:
                mine.close()
                raise GraderFault(f"the grader's zygote did not start a worker ({type(e).__name__}: {e})"
                                  f"{self.log.tail() if self.log else ''}") from None
            if not (isinstance(reply, tuple) and reply and reply[0] == "spawned"):
                mine.close()
                raise GraderFault(f"the grader's zygote could not start a worker: {_clean(str(reply), 300)}")
            if len(reply) == 3 and type(reply[2]) is int:
                self.ns_pid[reply[1]] = reply[2]
            return reply[1], mine, log

    def kill(self, wid: int) -> None:
        with self.lock:
            if self.closed or self.hello is None:
                return
            try:
                self._send(("kill", wid))
                self._recv(10)
            except (OSError, _Timeout, _Crash, _Protocol, wire.WireError):
                pass

    def status(self, wid: int, wait: float = 2.0):
        with self.lock:
            try:
                self._send(("status", wid, wait))
                reply = self._recv(wait + 5)
                return reply[2] if isinstance(reply, tuple) and len(reply) == 3 else None
            except (OSError, _Timeout, _Crash, _Protocol, wire.WireError):
                return None

    def _stop_process(self) -> None:
        proc = self.proc
        if proc is None:
            return
        try:
            if self.ctl is not None:
                self.ctl.close()
        except OSError:
            pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            for pid in _children(proc.pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass
            proc.kill()
            proc.wait(timeout=10)
        if self.log:
            self.log.settle(1.0)
        self.proc = None

    def close(self) -> None:
        with self.lock:
            if self.closed:
                return
            self.closed = True
            if self.proc is not None and self.hello is not None:
                try:
                    self._send(("bye",))
                except OSError:
                    pass
            self._stop_process()
            shutil.rmtree(self.scratch, ignore_errors=True)
            for d in self.extra_dirs:
                shutil.rmtree(d, ignore_errors=True)


def _recv_frame(sock: socket.socket, deadline: float, limits: wire.Limits):
    return wire.read_frame(lambda n: _recv_exact(sock, n, deadline),
                           lambda view: _recv_into(sock, view, deadline), limits)


def _recv_exact(sock: socket.socket, n: int, deadline: float) -> bytearray:
    buf = bytearray(n)
    _recv_into(sock, memoryview(buf), deadline)
    return buf


def _recv_into(sock: socket.socket, view: memoryview, deadline: float) -> None:
    n = len(view)
    got = 0
    while got < n:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _Timeout()
        r, _, _ = select.select([sock], [], [], remaining)
        if not r:
            raise _Timeout()
        try:
            k = sock.recv_into(view[got:], min(n - got, 1 << 22), socket.MSG_DONTWAIT)
        except BlockingIOError:
            continue
        except OSError as e:
            raise _Crash(str(e)) from None
        if k == 0:
            raise _Crash("connection closed")
        got += k


def _send_all(sock: socket.socket, parts: list, deadline: float) -> None:
    for part in parts:
        view = memoryview(part).cast("B")
        off = 0
        while off < len(view):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _Timeout()
            _, w, _ = select.select([], [sock], [], remaining)
            if not w:
                raise _Timeout()
            try:
                off += sock.send(view[off:off + (1 << 22)], socket.MSG_DONTWAIT)
            except BlockingIOError:
                continue
            except OSError as e:
                raise _Crash(str(e)) from None


# --- encoding on this side ------------------------------------------------------------------------

class TrustedEncoder(wire.Encoder):
    def __init__(self, conn: "WorkerConn"):
        super().__init__(conn.limits)
        self.conn = conn

    def tensor(self, t: torch.Tensor, flags: int = 0) -> None:
        super().tensor(t, 1 if t.requires_grad else 0)

    def other(self, obj: Any) -> None:
        if isinstance(obj, RemoteObject):
            conn = object.__getattribute__(obj, "_conn")
            if conn is not self.conn or not conn.alive:
                raise SubmissionError(f"this {type(obj).__name__} object belonged to a worker that was stopped "
                                      f"(after a crash or a time-out); it cannot be used any more")
            self.buf += b"h" + wire._U64.pack(object.__getattribute__(obj, "_hid"))
            self.value(type(obj).__name__)
            self.buf += b"\x00"
            return
        cls = type(obj)
        given = self.conn.session.question.given
        if cls.__module__ in given and hasattr(cls, "to_wire") and hasattr(cls, "from_wire"):
            self.wire_object(obj, self.conn.token_of(obj))
            return
        if wire.is_dataclass_instance(obj):
            self.dataclass_value(obj)
            return
        if callable(obj):
            self.buf += b"k" + wire._U64.pack(self.conn.register_callable(obj))
            return
        raise wire.WireError(f"a {cls.__name__} cannot be sent to the submission (plain data, tensors, "
                             f"generators, callables, dataclasses and the submission's own objects can)")


class TrustedDecoder(wire.Decoder):
    def __init__(self, data, conn: "WorkerConn", segments: list[torch.Tensor], deadline: float | None = None):
        super().__init__(data, conn.limits, segments, deadline)  # decoding counts against the call's deadline
        self.conn = conn
        self.grad_leaves: list[torch.Tensor] = []  # tensors the worker marked as requiring grad, in order

    def received(self, t: torch.Tensor) -> torch.Tensor:
        if t.requires_grad:
            self.grad_leaves.append(t)
        return t

    def callable_ref(self, cid: int) -> Any:
        fn = self.conn.callables.get(cid)
        if fn is None:
            raise wire.WireError(f"unknown callable {cid}")
        return fn

    def handle(self, hid: int, typename: str, flags: int) -> Any:
        return self.conn.remote(hid, typename)

    def dataclass_value(self, module: str, qualname: str, fields: dict) -> Any:
        cls = self.conn.session.given_class(module, qualname)
        if cls is None or not wire.dataclasses.is_dataclass(cls):
            return fields
        try:
            return wire.build_dataclass(cls, fields)
        except Exception as e:  # noqa: BLE001 - the trusted class refuses these fields
            raise wire.WireError(f"a {qualname} that the trusted {module} refuses: {type(e).__name__}: {e}") from None

    def wire_object(self, module: str, qualname: str, state: Any, token: int = 0, raw: bytes | None = None) -> Any:
        cls = self.conn.session.given_class(module, qualname)
        if cls is None or not hasattr(cls, "from_wire"):
            raise wire.WireError(f"a {module}.{qualname} is not a class of this question's given modules")
        try:
            return cls.from_wire(state)
        except Exception as e:  # noqa: BLE001
            raise wire.WireError(f"a {qualname} that the trusted {module} refuses: {type(e).__name__}: {e}") from None


# --- handles --------------------------------------------------------------------------------------

_remote_classes: dict[str, type] = {}
_tokens = itertools.count(1)


def _remote_class(typename: str) -> type:
    name = re.sub(r"\W", "_", typename)[:80] or "object"
    if not name[0].isalpha() and name[0] != "_":
        name = "_" + name
    cls = _remote_classes.get(name)
    if cls is None:
        if len(_remote_classes) > 2000:
            return RemoteObject
        cls = type(name, (RemoteObject,), {"__slots__": (), "__module__": "submission"})
        _remote_classes[name] = cls
    return cls


class RemoteObject:
    """An object that lives in the worker: attribute reads, calls and a few operators go there.

    Comparison and hashing are by identity on this side (no ``__eq__`` that could lie).
    """

    __slots__ = ("_session", "_conn", "_hid", "_rlabel", "__weakref__")

    def __init__(self, session: "QuestionSession", conn: "WorkerConn", hid: int, label: str):
        object.__setattr__(self, "_session", session)
        object.__setattr__(self, "_conn", conn)
        object.__setattr__(self, "_hid", hid)
        object.__setattr__(self, "_rlabel", label)

    __eq__ = object.__eq__
    __ne__ = object.__ne__
    __hash__ = object.__hash__

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return self._session.remote_get(self, name)

    def __setattr__(self, name: str, value: Any) -> None:
        self._session.remote_op(self, "setattr", (name, value))

    def __call__(self, *args, **kwargs):
        return self._session.remote_call(self, args, kwargs)

    def __len__(self) -> int:
        n = self._session.remote_op(self, "len", ())
        if type(n) is not int or n < 0:
            raise TypeError(f"len() of a {type(self).__name__} gave {n!r}")
        return n

    def __getitem__(self, key):
        return self._session.remote_op(self, "getitem", (key,))

    def __setitem__(self, key, value) -> None:
        self._session.remote_op(self, "setitem", (key, value))

    def __delitem__(self, key) -> None:
        self._session.remote_op(self, "delitem", (key,))

    def __contains__(self, item) -> bool:
        return self._session.remote_op(self, "contains", (item,)) is True

    def __iter__(self):
        return self._session.remote_op(self, "iter", ())

    def __next__(self):
        return self._session.remote_op(self, "next", ())

    def __bool__(self) -> bool:
        return self._session.remote_op(self, "bool", ()) is True

    def __repr__(self) -> str:
        return f"<{type(self).__name__} object of the submission>"

    def __reduce_ex__(self, protocol):
        raise TypeError(f"a {type(self).__name__} of the submission cannot be copied or pickled")

    def __del__(self):
        try:
            object.__getattribute__(self, "_conn").release(object.__getattribute__(self, "_hid"))
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


class RemoteFunction:
    """A function (or class) of the submission's module; calling it runs it in the worker."""

    __slots__ = ("_session", "__name__", "__qualname__")

    def __init__(self, session: "QuestionSession", name: str):
        self._session = session
        self.__name__ = name
        self.__qualname__ = name

    def __call__(self, *args, **kwargs):
        return self._session.call(("mod", self.__name__), args, kwargs, what=self.__name__)

    def __repr__(self) -> str:
        return f"<function {self.__name__} of {self._session.label} (isolated)>"


# --- one worker -----------------------------------------------------------------------------------

class WorkerConn:
    """The trusted side of one worker process: its socket, log, callables and handles."""

    def __init__(self, session: "QuestionSession", wid: int, sock: socket.socket, log: LogTail):
        self.session = session
        self.provider = session.provider
        self.limits = wire.Limits()
        self.wid = wid
        self.sock = sock
        self.sock.setblocking(False)
        self.log = log
        self.alive = True
        self.names: dict[str, str] = {}
        self.callables: dict[int, Any] = {}
        self._cid_of: dict[int, int] = {}
        self.remotes: "weakref.WeakValueDictionary[int, RemoteObject]" = weakref.WeakValueDictionary()
        self.pending_release: list[int] = []
        self.callback_errors: dict[int, BaseException] = {}
        self.depth = 0
        self.started = time.monotonic()
        self._tokens: "weakref.WeakKeyDictionary[Any, int]" = weakref.WeakKeyDictionary()
        self.graphs: dict[int, tuple[torch.Tensor, list[torch.Tensor]]] = {}  # differentiable callbacks

    # bookkeeping
    def token_of(self, obj: Any) -> int:
        """A number for this object of a given module, the same while it lives: the worker then keeps one
        copy of it across calls, as the same object would be in-process (0 when it cannot be tracked)."""
        try:
            token = self._tokens.get(obj)
            if token is None:
                token = self._tokens[obj] = next(_tokens)
            return token
        except TypeError:
            return 0

    def register_callable(self, fn: Any) -> int:
        cid = self._cid_of.get(id(fn))
        if cid is None or self.callables.get(cid) is not fn:
            cid = len(self.callables) + 1
            self.callables[cid] = fn
            self._cid_of[id(fn)] = cid
        return cid

    def remote(self, hid: int, typename: str) -> RemoteObject:
        obj = self.remotes.get(hid)
        if obj is None:
            obj = _remote_class(typename)(self.session, self, hid, typename)
            self.remotes[hid] = obj
        if hid in self.pending_release:
            self.pending_release = [h for h in self.pending_release if h != hid]
        return obj

    def release(self, hid: int) -> None:
        if self.alive:
            self.pending_release.append(hid)

    def kill(self) -> None:
        if self.alive:
            self.alive = False
            self.provider.zygote.kill(self.wid)
        try:
            self.sock.close()
        except OSError:
            pass
        self.log.settle(0.5)

    def exit_text(self) -> str:
        st = self.provider.zygote.status(self.wid, 2.0)
        if not st or not isinstance(st, tuple) or len(st) != 2:
            return "the worker process died"
        kind, n = st
        if kind == "signal":
            try:
                return SIGNAL_TEXT.get(n) or f"killed by {signal.Signals(n).name}"
            except ValueError:
                return f"killed by signal {n}"
        return f"the worker process exited with status {n} (os._exit, sys.exit in a thread, or a crash)"

    # talking
    def exchange(self, parts: list | None, timeout: float) -> Any:
        """Send a request (if any) and return the reply, serving callbacks meanwhile."""
        deadline = time.monotonic() + timeout
        if not self.alive:
            raise _Crash("the worker is not running")
        done = False
        self.depth += 1
        try:
            if self.pending_release:
                ids, self.pending_release = self.pending_release, []
                _send_all(self.sock, wire.Encoder().message(("release", ids)), deadline)
            if parts is not None:
                _send_all(self.sock, parts, deadline)
            while True:
                try:
                    body, segments = _recv_frame(self.sock, deadline, self.limits)
                    dec = TrustedDecoder(body, self, segments, deadline)
                    msg = dec.decode()
                except wire.WireLate:
                    raise _Timeout() from None
                except wire.WireLimit as e:
                    raise _TooLarge(str(e)) from None
                except wire.WireError as e:
                    raise _Protocol(f"the worker sent data the grader cannot read: {e}") from None
                if not isinstance(msg, tuple) or not msg or not isinstance(msg[0], str):
                    raise _Protocol("the worker sent a malformed reply")
                if msg[0] == "callback":
                    self._run_callback(msg, deadline, dec.grad_leaves)
                    continue
                if msg[0] == "callback_vjp":
                    self._run_callback_vjp(msg, deadline)
                    continue
                done = True
                return msg
        finally:
            self.depth -= 1
            if not done and self.alive:
                self.kill()  # interrupted mid-exchange (time-out, crash, Ctrl-C): the worker is out of step

    def _run_callback(self, msg: tuple, deadline: float, leaves: list[torch.Tensor]) -> None:
        """Run a callable of this side for the worker. Inside a vjp request (a 5th item, True) it runs with
        grad enabled on leaves for the tensors the worker marked, and its graph is kept for the backward."""
        if len(msg) not in (4, 5) or len(msg) == 5 and msg[4] is not True or type(msg[1]) is not int \
                or not isinstance(msg[2], tuple) or not isinstance(msg[3], dict) or not all(isinstance(k, str) for k in msg[3]):
            raise _Protocol("the worker sent a malformed callback request")
        cid, args, kwargs, differentiable = msg[1], msg[2], msg[3], len(msg) == 5
        fn = self.callables.get(cid)
        try:
            if fn is None:
                raise TypeError(f"unknown callable {cid}")
            with torch.set_grad_enabled(differentiable or torch.is_grad_enabled()):
                result = fn(*args, **kwargs)
            reply: tuple = ("reply", result)
            if differentiable:
                key = 0
                if leaves and isinstance(result, torch.Tensor) and result.grad_fn is not None and len(self.graphs) < 4096:
                    key = len(self.graphs) + 1
                    self.graphs[key] = (result, list(leaves))
                reply = ("reply", result.detach() if isinstance(result, torch.Tensor) else result, key)
            try:
                parts = TrustedEncoder(self).message(reply)
            except wire.WireError as e:
                raise TypeError(f"the grader's callable returned something that cannot cross: {e}") from None
        except KeyboardInterrupt:
            raise
        except BaseException as e:  # noqa: BLE001 - goes to the worker, and back to the test if unhandled
            token = len(self.callback_errors) + 1
            self.callback_errors[token] = e
            builtin = type(e).__name__ if PASS_THROUGH.get(type(e).__name__) is type(e) else None
            message = str(e) if not isinstance(e, KeyError) or len(e.args) != 1 else e.args[0]
            parts = wire.Encoder().message(("raise", builtin, str(message)[:4000], token,
                                            not isinstance(e, Exception)))
        _send_all(self.sock, parts, deadline)

    def _run_callback_vjp(self, msg: tuple, deadline: float) -> None:
        """The backward of a differentiable callback: d<result, grad>/d(its tensor inputs), on this side."""
        if len(msg) != 3 or type(msg[1]) is not int:
            raise _Protocol("the worker sent a malformed backward request")
        _, key, grad = msg
        try:
            out, leaves = self.graphs[key]
            if not isinstance(grad, torch.Tensor) or grad.shape != out.shape or not grad.is_floating_point():
                raise TypeError(f"a gradient of shape {tuple(out.shape)} was expected")
            with torch.enable_grad():
                grads = torch.autograd.grad((out * grad.detach().to(out.dtype)).sum(), leaves, retain_graph=True,
                                            allow_unused=True)  # as grad_outputs=grad (see grader.vjp)
            parts = TrustedEncoder(self).message(("reply", [None if g is None else g.detach() for g in grads]))
        except Exception as e:  # noqa: BLE001 - the worker's backward fails with this message
            parts = wire.Encoder().message(("raise", "RuntimeError", f"the grader's callable could not go "
                                            f"backward: {type(e).__name__}: {e}"[:4000], 0, False))
        _send_all(self.sock, parts, deadline)


# --- one question ---------------------------------------------------------------------------------

class QuestionSession:
    """A question's submission: its worker (started on first use, restarted after a crash)."""

    def __init__(self, provider: "WorkerProvider", question: Question):
        self.provider = provider
        self.question = question
        self.qid = question.qid
        self.label = question_dir_label(provider.root, question)
        self.rel = f"{question.qid}/{question.filename}"
        self.path = provider.root / question.qid / question.filename
        self.conn: WorkerConn | None = None
        self.fatal: str | None = None
        self.timeouts = 0
        self.timeouts_by: dict[str, int] = {}
        self.restarts = 0
        self.limit_override: dict = {}  # limits of the next worker beyond the provider's (grader.measuring)
        if not self.path.exists():
            self.fatal = f"{self.label} is missing"

    def given_class(self, module: str, qualname: str):
        if module not in self.question.given:
            return None
        obj: Any = given_module(self.qid, module)
        for part in qualname.split("."):
            obj = getattr(obj, part, None)
        return obj if isinstance(obj, type) else None

    # the worker
    def _files(self) -> dict[str, bytes]:
        root = self.provider.root
        qdir = root / self.qid
        st = os.lstat(self.path)
        import stat
        if os.path.islink(qdir) or stat.S_ISLNK(st.st_mode) or not stat.S_ISREG(st.st_mode):
            raise SubmissionError(f"{self.label} must be a regular file (not a link)")
        if not self.path.resolve().is_relative_to(root.resolve()):
            raise SubmissionError(f"{self.label} lies outside the submission")
        if st.st_size > MAX_SOURCE_BYTES:
            raise SubmissionError(f"{self.label} is larger than {MAX_SOURCE_BYTES >> 20} MiB")
        files = {self.rel: self.path.read_bytes()}
        for name in self.question.given:
            files[f"{self.qid}/{name}.py"] = (TRUSTED_EXERCISES / self.qid / f"{name}.py").read_bytes()
        return files

    def ensure(self) -> WorkerConn:
        if self.fatal is not None:
            raise SubmissionError(self.fatal)
        if self.conn is not None and self.conn.alive:
            self.provider.touch(self)
            return self.conn
        if self.timeouts >= self.provider.max_timeouts:
            raise SubmissionError(f"not run: code of {self.label} already timed out {self.timeouts} times "
                                  f"(limit {self.provider.limits.call_timeout:g} s per call)")
        try:
            files = self._files()
        except SubmissionError as e:
            self.fatal = str(e)
            raise
        except OSError as e:
            self.fatal = f"{self.label} cannot be read: {e.strerror}"
            raise SubmissionError(self.fatal) from None
        spec = {"qid": self.qid, "filename": self.question.filename, "given": list(self.question.given),
                "files": files, "limits": {**self.provider.worker_limits(), **self.limit_override}}
        wid, sock, log = self.provider.zygote.spawn(spec)
        conn = WorkerConn(self, wid, sock, log)
        self.conn = conn
        self.restarts += 1
        self.provider.touch(self)
        timeout = self.provider.limits.call_timeout
        try:
            msg = conn.exchange(None, timeout)
        except _Timeout:
            conn.kill()
            self.fatal = (f"{self.label}: importing {self.question.filename} did not finish within {timeout:g} s"
                          f"{conn.log.tail()}")
            raise SubmissionError(self.fatal) from None
        except (_Crash, _Protocol) as e:
            text = conn.exit_text() if isinstance(e, _Crash) else str(e)
            conn.kill()
            self.fatal = f"{self.label}: importing {self.question.filename} crashed: {text}{conn.log.tail()}"
            raise SubmissionError(self.fatal) from None
        if msg[0] == "import_error" and len(msg) == 2:
            conn.kill()
            self.fatal = f"{self.label}: {_clean(str(msg[1]))}"
            raise SubmissionError(self.fatal)
        if msg[0] != "ready" or len(msg) != 2 or not isinstance(msg[1], dict) \
                or not isinstance(msg[1].get("names"), dict):
            conn.kill()
            self.fatal = f"{self.label}: the worker did not start properly{conn.log.tail()}"
            raise SubmissionError(self.fatal)
        conn.names = {k: v for k, v in msg[1]["names"].items() if isinstance(k, str) and isinstance(v, str)}
        return conn

    def stop(self) -> None:
        if self.conn is not None:
            self.conn.kill()
            self.conn = None

    # requests
    def _exchange(self, conn: WorkerConn, request: tuple, what: str):
        enc = TrustedEncoder(conn)
        try:
            parts = enc.message(request)
        except wire.WireLimit as e:  # sizes the references never reach: data the submission returned, sent back
            raise SubmissionError(f"the arguments of {what} are too large to send to the worker: {e}") from None
        except wire.WireError as e:  # the test passed something the boundary cannot carry: the grader's bug
            raise GraderFault(f"{what}: the grader cannot send these arguments to the worker: {e}") from None
        timeout = self.provider.limits.call_timeout
        errors = conn.callback_errors
        try:
            reply = conn.exchange(parts, timeout)
        except _Timeout:
            conn.kill()
            self.timeouts += 1
            self.timeouts_by[what] = self.timeouts_by.get(what, 0) + 1
            raise SubmissionError(f"{what} did not finish within {timeout:g} s and was stopped"
                                  f"{conn.log.tail()}") from None
        except _Crash:
            text = conn.exit_text()
            conn.kill()
            raise SubmissionError(f"{what} crashed the worker process: {text}{conn.log.tail()}") from None
        except _TooLarge as e:
            conn.kill()
            raise SubmissionError(f"the reply of {what} was too large: {e}") from None
        except _Protocol as e:
            conn.kill()
            raise SubmissionError(f"{what}: {e}") from None
        finally:
            if conn.depth == 0:
                conn.callback_errors = {}
        return reply, enc, errors

    def _result(self, reply: tuple, enc: TrustedEncoder, errors: dict, what: str) -> tuple[Any, dict]:
        kind = reply[0]
        if kind == "ok" and len(reply) == 3 and isinstance(reply[2], dict):
            value, extra = reply[1], reply[2]
        elif kind == "error" and len(reply) == 2 and isinstance(reply[1], dict):
            value, extra = None, reply[1]
        else:
            self.conn and self.conn.kill()
            raise SubmissionError(f"{what}: the worker sent a malformed reply")
        self._apply_generators(enc.generators, extra.get("generators"))
        if kind == "error":
            raise self._error(extra, what, errors)
        return value, extra

    def _apply_generators(self, gens: list[torch.Generator], states: Any) -> None:
        if not isinstance(states, list):
            return
        for g, st in zip(gens, states):
            if not isinstance(st, bytes):
                continue
            try:
                old = g.get_state()
                if len(st) == old.numel():
                    g.set_state(torch.frombuffer(bytearray(st), dtype=torch.uint8).clone())
            except (RuntimeError, ValueError, TypeError):
                pass

    def _error(self, info: dict, what: str, errors: dict) -> BaseException:
        token = info.get("token")
        if type(token) is int and token in errors:
            return errors[token]  # the grader's own callable raised it: the test sees its own exception
        kind = info.get("kind")
        message = _clean(info.get("message", ""))
        typename = _clean(str(info.get("type", "Exception")), 100)
        where = info.get("where")
        if not (isinstance(where, tuple) and len(where) == 2 and isinstance(where[0], str) and type(where[1]) is int):
            where = None
        at = f" ({self.rel} line {where[1]})" if where else ""
        if kind == "notimpl":
            e = NotImplementedError(message)
            e.where = (_clean(where[0], 100) if where else what, self.rel, where[1] if where else 0)
            return e
        if kind == "builtin" and info.get("builtin") in PASS_THROUGH:
            e = PASS_THROUGH[info["builtin"]](message)
            if where:  # the plugin says where in the submission it was raised
                e.where = (_clean(where[0], 100), self.rel, where[1])
            return e
        if kind == "missing":
            return SubmissionError(f"{self.label} defines no `{message}`")
        if kind == "exit":
            return SubmissionError(f"{what} called sys.exit({message}){at}")
        if kind == "memory":
            return SubmissionError(f"{what} ran out of memory (MemoryError; a worker may allocate about "
                                   f"{self.provider.limits.memory >> 30} GiB){at}")
        if kind == "stop":
            return StopIteration()
        if kind == "stale":
            return SubmissionError(f"{what}: that object no longer exists in the worker")
        if kind == "changed":  # grader.loading.call_on_copies in the worker: the caller's values never change
            return ChangedInPlace(what, message[:100])
        if kind == "wire" and typename == "WireLimit":  # the worker's encoder applies the limits this side does
            return SubmissionError(f"the reply of {what} was too large: {message}")
        if kind == "wire":
            return SubmissionError(f"{what} returned something the grader cannot receive: {typename}: {message}")
        if kind == "decode":
            return SubmissionError(f"{what}: the worker could not rebuild the arguments: {typename}: {message}")
        return SubmissionError(f"{what} raised {typename}: {message}{at}")

    def _runnable(self, what: str) -> WorkerConn:
        n = self.timeouts_by.get(what, 0)
        if n >= self.provider.max_timeouts_per_function:
            raise SubmissionError(f"{what} was not run: it already timed out {n} times "
                                  f"(limit {self.provider.limits.call_timeout:g} s per call)")
        return self.ensure()

    def call(self, target: tuple, args: tuple, kwargs: dict, *, what: str):
        conn = self._runnable(what)
        reply, enc, errors = self._exchange(conn, ("call", target, args, kwargs, False), what)
        value, extra = self._result(reply, enc, errors, what)
        return value

    def vjp(self, name: str, args: tuple, kwargs: dict, wrt, cotangent) -> dict:
        """``grader.vjp.vjp_call`` run in the worker; the reply is checked here (it is the submission's)."""
        conn = self._runnable(name)
        try:
            reply, enc, errors = self._exchange(conn, ("vjp", ("mod", name), args, kwargs, tuple(wrt), cotangent),
                                                name)
        finally:
            conn.graphs.clear()
        value, _ = self._result(reply, enc, errors, name)
        grads, flags, error = (value.get(k) for k in ("grads", "grad_fn", "backward_error")) \
            if isinstance(value, dict) else (None, None, None)
        if not (isinstance(grads, list) and len(grads) == len(wrt)
                and all(g is None or isinstance(g, torch.Tensor) for g in grads)
                and (type(flags) is bool or isinstance(flags, list) and all(type(f) is bool for f in flags))
                and (error is None or isinstance(error, str)) and "output" in value):
            raise SubmissionError(f"{name}: the worker sent a malformed reply")
        return {"output": value["output"], "grads": [None if g is None else g.detach() for g in grads],
                "grad_fn": flags, "backward_error": None if error is None else _clean(error)}

    def trace(self, on: bool) -> set[str] | None:
        """Start recording the operators the worker's calls run (``grader.optrace``), or stop and return
        them (None when the worker has no trace: it was restarted, or the submission removed it)."""
        from .forbidden import trace_names
        if not on and (self.conn is None or not self.conn.alive):
            return None  # the worker that recorded is gone: no new one just to say so
        conn = self.ensure()
        reply, enc, errors = self._exchange(conn, ("trace", bool(on)), "the operator trace")
        value, _ = self._result(reply, enc, errors, "the operator trace")
        return None if on else trace_names(value)

    def module_attr(self, name: str) -> Any:
        conn = self.ensure()
        if conn.names.get(name) == "callable":
            return RemoteFunction(self, name)
        reply, enc, errors = self._exchange(conn, ("get", ("mod", ""), name), f"{self.label}.{name}")
        value, _ = self._result(reply, enc, errors, name)
        return value

    def _live(self, obj: RemoteObject) -> WorkerConn:
        conn = object.__getattribute__(obj, "_conn")
        if conn is not self.conn or not conn.alive:
            raise SubmissionError(f"this {type(obj).__name__} object belonged to a worker that was stopped "
                                  f"(after a crash or a time-out); it cannot be used any more")
        return conn

    def remote_get(self, obj: RemoteObject, name: str) -> Any:
        conn = self._live(obj)
        label = object.__getattribute__(obj, "_rlabel")
        what = f"{label}.{name}"
        reply, enc, errors = self._exchange(conn, ("get", ("h", object.__getattribute__(obj, "_hid")), name), what)
        value, _ = self._result(reply, enc, errors, what)
        if isinstance(value, RemoteObject):
            object.__setattr__(value, "_rlabel", what)
        return value

    def remote_call(self, obj: RemoteObject, args: tuple, kwargs: dict) -> Any:
        conn = self._live(obj)
        what = object.__getattribute__(obj, "_rlabel")
        reply, enc, errors = self._exchange(conn, ("call", ("h", object.__getattribute__(obj, "_hid")), args, kwargs,
                                                   False), what)
        value, _ = self._result(reply, enc, errors, what)
        return value

    def remote_op(self, obj: RemoteObject, op: str, args: tuple) -> Any:
        conn = self._live(obj)
        what = f"{object.__getattribute__(obj, '_rlabel')} ({op})"
        reply, enc, errors = self._exchange(conn, ("op", object.__getattribute__(obj, "_hid"), op, args), what)
        value, _ = self._result(reply, enc, errors, what)
        return value


class SubmissionProxy:
    """What ``sub`` is with ``--isolate``: the submission's module seen through a worker."""

    def __init__(self, session: QuestionSession):
        self._session = session
        self._question = session.question
        self._label = session.label
        self._path = session.path if session.path.exists() else None
        self._module = None

    def _measure(self, name: str, *args, _limit_bytes: int | None = None, **kwargs) -> tuple[Any, dict]:
        """Call ``name`` alone in a fresh worker; {'seconds', 'peak_bytes'} read from here (grader.measuring)."""
        from .measuring import isolated_peak_memory
        return isolated_peak_memory(self._session, name, args, kwargs, _limit_bytes)

    def _timing(self):
        """A context manager giving the ``grader.measuring.Meter`` of a speed race (a fresh, lone worker)."""
        from .measuring import isolated_timing
        return isolated_timing(self._session)

    def _vjp(self, name: str, args: tuple, kwargs: dict | None = None, *, wrt, cotangent) -> dict:
        """Run ``name`` forward and backward in the worker (``grader.vjp``): output, gradients, grad_fn flags."""
        from . import vjp
        vjp.validate(args, kwargs or {}, wrt)
        return self._session.vjp(name, args, kwargs or {}, wrt, cotangent)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return self._session.module_attr(name)

    def __repr__(self) -> str:
        return f"<submission {self._label} (isolated)>"


class WorkerProvider:
    """Runs each question's submission in an isolated worker (see the module docstring)."""

    def __init__(self, root: Path, *, call_timeout: float | None = None, memory_limit: int | None = None,
                 cpu_limit: int | None = None, max_alive: int = 3, max_timeouts: int = 4,
                 max_timeouts_per_function: int = 2, mode: str = "auto"):
        self.root = Path(root).resolve()
        base = Limits()
        self.limits = Limits(call_timeout=float(call_timeout or base.call_timeout),
                             memory=int(memory_limit or base.memory), cpu=int(cpu_limit or base.cpu))
        self.max_alive = max_alive
        self.max_timeouts = max_timeouts  # per question: then its remaining calls fail at once
        self.max_timeouts_per_function = max_timeouts_per_function  # per function of a question
        self.zygote = Zygote(self.limits, mode)
        self._sessions: dict[str, QuestionSession] = {}
        self._proxies: dict[str, SubmissionProxy] = {}
        self._alive: list[QuestionSession] = []
        self._closed = False
        atexit.register(self.close)

    @property
    def isolation(self) -> str:
        return self.zygote.description()

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
