"""Launching the sandbox and talking to its zygote (the trusted side): the isolation levels, bubblewrap
or plain processes, the worker limits, the zygote's control socket and the workers' logs."""
from __future__ import annotations

import atexit
import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any


from ..loading import GraderFault
from ..questions import get
from ..meter import children as _children
from . import bwrap



class _Wire:
    """``grader.wire``, imported on first use: it imports torch, and launching a zygote needs none
    (``start_early`` runs before the grading process has imported torch)."""

    def __getattr__(self, name: str):
        from .. import wire as module
        return getattr(module, name)


wire = _Wire()

DEFAULT_CALL_TIMEOUT = 60.0
MAX_SOURCE_BYTES = 4 << 20

SIGNAL_TEXT = {
    signal.SIGKILL: "killed by SIGKILL (often: out of memory)",
    signal.SIGXCPU: "CPU time limit exceeded (SIGXCPU)",
    signal.SIGXFSZ: "file size limit exceeded (SIGXFSZ)",
    signal.SIGSEGV: "segmentation fault (SIGSEGV)",
    signal.SIGABRT: "aborted (SIGABRT)",
    signal.SIGBUS: "bus error (SIGBUS)",
}


@dataclass(frozen=True)
class WorkerLimits:
    call_timeout: float = DEFAULT_CALL_TIMEOUT  # wall-clock seconds per call (and per import)
    memory: int = 4 << 30  # address space a worker may add to what it starts with (RLIMIT_AS)
    cpu: int = 600  # CPU seconds per worker (RLIMIT_CPU)
    fsize: int = 64 << 20  # bytes per file written (RLIMIT_FSIZE)
    nofile: int = 256  # open files (RLIMIT_NOFILE)
    nproc: int = 64  # processes and threads of the worker's uid (RLIMIT_NPROC)


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

BOOT = ("import sys; sys.path.insert(0, {path!r}); import grader.sandbox.zygote as m; del sys.path[0]; "
        "m.boot({fd})")
PRELOAD = ("math", "fractions", "dataclasses", "functools", "itertools", "collections", "heapq", "re",
           "typing", "statistics", "decimal", "ast", "operator", "string", "random", "bisect",
           "torch.nn.functional", "torch.nn")
LEVELS = ("bwrap", "process")
LEVEL_NAMES = {"bwrap": "full", "process": "reduced"}
REQUIRE_ENV = "LLMGRADE_REQUIRE_ISOLATION"  # 1: never fall back to plain processes (--require-isolation)


class IsolationUnavailable(GraderFault):
    """Full isolation was required (``--require-isolation``, ``LLMGRADE_REQUIRE_ISOLATION=1``) and is not here."""


def isolation_required() -> bool:
    return os.environ.get(REQUIRE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def full_isolation_problem() -> str | None:
    """Why full isolation (bubblewrap + the seccomp allowlist) cannot run here, or None. Cheap: no torch."""
    forced = os.environ.get("LLMGRADE_ISOLATION", "auto")
    if forced not in ("auto", "bwrap"):
        return f"LLMGRADE_ISOLATION={forced} forces another level"
    if bwrap.executable() is None:
        return "bubblewrap (bwrap) is not installed: " + SETUP_HINT
    try:
        import pyseccomp  # noqa: F401
    except ImportError as e:
        return f"the seccomp binding is missing ({e}): .venv/bin/pip install pyseccomp"
    argv = ["bwrap", *(["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts"] if os.geteuid() == 0
                       else ["--unshare-all"]), "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "true"]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"bubblewrap cannot start: {e}"
    if proc.returncode != 0:
        return f"bubblewrap cannot create namespaces here: {_clean(proc.stderr.strip(), 300) or proc.returncode}"
    return None


SETUP_HINT = "run `sudo apt-get install -y bubblewrap` (Debian/Ubuntu) or scripts/setup.sh"


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


class ZygoteClient:
    """Starts the zygote (in bubblewrap; plain processes only where that is refused and allowed) and
    talks to it over its control socket."""

    def __init__(self, limits: WorkerLimits, mode: str = "auto"):
        self.limits = limits
        self.mode_asked = mode
        mode = os.environ.get("LLMGRADE_ISOLATION", mode) if mode == "auto" else mode
        self.required = isolation_required()
        if mode == "auto":
            levels = LEVELS if bwrap.executable() else ("process",)
        elif mode in LEVELS:
            levels = (mode,)
        else:
            raise GraderFault(f"unknown isolation mode {mode!r} (auto, {', '.join(LEVELS)})")
        if self.required and levels[0] != "bwrap":
            raise IsolationUnavailable("full isolation is required but unavailable: "
                                       + (full_isolation_problem() or "a weaker level was forced"))
        if self.required:
            levels = ("bwrap",)
        self.levels = list(levels)
        self.scratch = Path(tempfile.mkdtemp(prefix="llmgrade-"))
        os.chmod(self.scratch, 0o755)
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

    @property
    def level_name(self) -> str:
        """``full`` (bubblewrap and the seccomp allowlist) or ``reduced`` (plain processes)."""
        self.ready()
        return LEVEL_NAMES[self.level]

    # starting
    def _launch(self) -> None:
        level = self.levels.pop(0)
        self.level = level
        workdir = self.scratch / "work"
        if level == "process" and os.geteuid() == 0 and not _traversable(self.scratch):
            # the workers run as other uids here and must reach their files: a world-traversable place
            self.extra_dirs.append(Path(tempfile.mkdtemp(prefix="llmgrade-work-", dir="/tmp")))
            workdir = self.extra_dirs[-1]
        workdir.mkdir(exist_ok=True)
        os.chmod(workdir, 0o755)
        parent, child = socket.socketpair()
        pass_fds = [child.fileno()]
        env = _clean_env(str(workdir))
        if level == "bwrap":
            from . import seccomp
            staged = bwrap.stage_modules(self.scratch / "lib")
            boot = BOOT.format(path=bwrap.INSIDE_LIB, fd=child.fileno())
            bpf = self.scratch / "zygote.bpf"
            seccomp.write_bpf(seccomp.zygote_filter(), str(bpf))
            bpf_fd = os.open(bpf, os.O_RDONLY)
            pass_fds.append(bpf_fd)
            env.update(HOME=bwrap.SANDBOX_DIR, TMPDIR="/tmp")
            python = [sys.executable, "-I", "-c", boot, str(self.scratch)]  # the scratch path names its processes
            argv = bwrap.argv(python, staged=staged, seccomp_fd=bpf_fd, as_root=os.geteuid() == 0, env=env)
            workdir_inside = bwrap.SANDBOX_DIR
        else:
            bpf_fd = None
            boot = BOOT.format(path=str(Path(__file__).resolve().parents[2]), fd=child.fileno())
            argv = [sys.executable, "-I", "-c", boot, str(self.scratch)]
            workdir_inside = str(workdir)
        r, w = os.pipe()
        try:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=w, stderr=w, pass_fds=pass_fds,
                                         env=env, cwd=str(workdir), start_new_session=True,
                                         preexec_fn=_set_pdeathsig)
        finally:
            os.close(w)
            child.close()
            if bpf_fd is not None:
                os.close(bpf_fd)
        self.log = LogTail(r)
        self.ctl = parent
        config = {"sandbox": level == "bwrap", "workdir": workdir_inside, "preload": list(PRELOAD)}
        data = json.dumps(config).encode()
        try:
            parent.sendall(len(data).to_bytes(8, "little") + data)
        except OSError:
            pass

    def _read_json(self, deadline: float) -> dict | None:
        try:
            n = int.from_bytes(wire.recv_exact(self.ctl, 8, deadline), "little")
            if n > 1 << 20:
                return None
            return json.loads(wire.recv_exact(self.ctl, n, deadline))
        except (wire.PeerTimeout, wire.PeerClosed, ValueError):
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
                    cls = IsolationUnavailable if self.required else GraderFault
                    raise cls("the grader could not start its worker process: " + "; ".join(self.failures))
                print(f"llmgrade: WARNING: full isolation failed ({self.failures[-1]}); falling back to plain "
                      f"processes: the file system and network are NOT hidden from submissions "
                      f"(--require-isolation refuses instead)", file=sys.stderr)
                self._launch()

    def description(self) -> str:
        self.ready()
        lim = self.limits
        h = self.hello or {}
        drop = h.get("drop_uid")
        if self.level == "bwrap":
            who = "a unique unprivileged uid" if drop else "uid 0 of a user namespace (the grader is not root)"
            text = (f"FULL isolation: bubblewrap (new pid, network, ipc, uts namespaces; a read-only root of the "
                    f"system, Python and the venv only: no project, solutions, tests, submissions, /home or host "
                    f"/tmp; no network; capabilities dropped) and a libseccomp allowlist (everything else EPERM, "
                    f"other ABIs refused); a zygote forks each worker into its own pid and mount namespace with "
                    f"its own /proc, /tmp and /sandbox (only its own files), as {who}")
        else:
            who = "a unique unprivileged uid" if drop else "the grader's own (unprivileged) uid"
            text = (f"REDUCED isolation: plain worker processes (bubblewrap "
                    f"{'failed: ' + '; '.join(self.failures) if self.failures else 'not used'}; {SETUP_HINT}), "
                    f"own session, as {who}, the seccomp allowlist; the file system and network are NOT hidden")
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
        body, _ = wire.recv_frame(self.ctl, wire.Limits(max_message=1 << 20, max_tensor=0), deadline)
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
            except (wire.PeerTimeout, wire.PeerClosed, _Protocol, wire.WireError) as e:
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
            except (OSError, wire.PeerTimeout, wire.PeerClosed, _Protocol, wire.WireError):
                pass

    def status(self, wid: int, wait: float = 2.0):
        with self.lock:
            try:
                self._send(("status", wid, wait))
                reply = self._recv(wait + 5)
                return reply[2] if isinstance(reply, tuple) and len(reply) == 3 else None
            except (OSError, wire.PeerTimeout, wire.PeerClosed, _Protocol, wire.WireError):
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


# --- a zygote started before torch is imported here ------------------------------------------------

_early: ZygoteClient | None = None


def start_early(mode: str = "auto") -> None:
    """Launch a zygote now, for the next ``zygote_for`` of this process to adopt. The grader calls it before it
    imports torch and pytest (~2 s): the zygote's own torch import runs meanwhile on the other core, instead of
    making the first test wait. Any error is left to ``zygote_for``, which starts one the usual way."""
    global _early
    if _early is None:
        try:
            _early = ZygoteClient(WorkerLimits(), mode)
        except Exception:  # noqa: BLE001 - a head start only
            _early = None


def zygote_for(limits: WorkerLimits, mode: str = "auto") -> ZygoteClient:
    """The early zygote if one was started for the same mode and requirement, else a new one."""
    global _early
    early, _early = _early, None
    if early is not None and not early.closed and early.mode_asked == mode and early.required == isolation_required():
        early.limits = limits
        return early
    if early is not None:
        early.close()
    return ZygoteClient(limits, mode)


def discard_early() -> None:
    """Close an early zygote nobody adopted (the caller's run is over: the next one starts its own)."""
    global _early
    early, _early = _early, None
    if early is not None:
        early.close()


atexit.register(discard_early)
