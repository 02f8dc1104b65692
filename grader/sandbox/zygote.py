"""The isolated side of the grader: a zygote that forks one worker per question.

The trusted side (``grader.sandbox.launch``) starts this module as ``python -I -c ...`` with a cleaned
environment, inside bubblewrap where the machine allows it (``grader.sandbox.bwrap``: new pid, network,
ipc, uts namespaces, a read-only root of only the system, Python and the venv, fresh /proc, /dev, /tmp,
the zygote's seccomp allowlist). The zygote then

1. imports torch once, before any submission code exists in the process;
2. forks a worker per question on request: in the sandbox the worker is pid 1 of its own pid and mount
   namespace with its own /proc, /tmp and /dev/shm (``grader.sandbox.namespaces``), runs as a unique
   unprivileged uid (the grader runs as root) whose directory (mode 0700) holds only the question's
   file and the trusted copies of its given modules; it gets rlimits, its own data socket and log
   pipe, and loads its own seccomp allowlist (``grader.sandbox.seccomp``) last.

Nothing here is trusted by the other side: the trusted side decodes what comes back with
``grader.wire`` (plain data only) and never runs code from here.
"""
from __future__ import annotations

import os
import signal
import socket
import sys
import time

from ..meter import children as _children
from . import namespaces
from .namespaces import PR_SET_CHILD_SUBREAPER, PR_SET_DUMPABLE, PR_SET_PDEATHSIG, prctl


# --- readable by others? (for the fallback without a new root) -----------------------------------

def readable_by_others(paths: list[str]) -> bool:
    import stat
    for path in paths:
        path = os.path.realpath(path)
        parts = path.split("/")
        for i in range(2, len(parts)):
            d = "/".join(parts[:i]) or "/"
            if not os.stat(d).st_mode & stat.S_IXOTH:
                return False
        mode = os.stat(path).st_mode
        if not mode & stat.S_IROTH or (stat.S_ISDIR(mode) and not mode & stat.S_IXOTH):
            return False
    return True


# --- the zygote -----------------------------------------------------------------------------------

class ZygoteServer:
    """The zygote's request loop: spawn, kill and report on workers (requests from ``ZygoteClient``)."""

    def __init__(self, ctl: socket.socket, config: dict):
        self.ctl = ctl
        self.config = config
        self.workers: dict[int, dict] = {}  # wid -> {"pid", "uid", "pgid"}
        self.by_pid: dict[int, int] = {}
        self.status: dict[int, int] = {}  # wid -> wait status
        self.early: dict[int, int] = {}  # pid -> wait status of processes reaped before they were known
        self.next_wid = 1
        self.base = config["workdir"]
        self.sandbox = config["sandbox"]
        self.drop_uid = config.get("drop_uid", False)

    # control messages
    def send(self, obj) -> None:
        from .. import wire
        wire.send_parts(self.ctl, wire.Encoder().message(obj))

    def serve(self) -> None:
        import select
        from .. import wire
        while True:
            self.reap()
            r, _, _ = select.select([self.ctl], [], [], 0.5)
            if not r:
                continue
            try:  # every request starts with one byte: b"F" carries two fds (a spawn), b"M" does not
                first, fds, _, _ = socket.recv_fds(self.ctl, 1, 2)
            except OSError:
                first, fds = b"", []
            if not first:
                break  # the trusted side is gone
            body, _ = wire.recv_frame(self.ctl)
            msg = wire.Decoder(body).decode()
            if first == b"F" and msg[0] == "spawn" and len(fds) == 2:
                self.spawn(msg[1], list(fds))
                continue
            for fd in fds:
                os.close(fd)
            op = msg[0]
            if op == "kill":
                self.kill(msg[1])
                self.send(("killed", msg[1]))
            elif op == "status":
                self.send(("status", msg[1], self.wait_status(msg[1], msg[2])))
            elif op == "bye":
                break
        for wid in list(self.workers):
            self.kill(wid)
        self.reap()
        self.sweep(None)

    def reap(self) -> None:
        while True:
            try:
                pid, st = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            wid = self.by_pid.pop(pid, None)
            if wid is None:
                self.early[pid] = st
                while len(self.early) > 1000:
                    self.early.pop(next(iter(self.early)))
            if wid is not None:
                self.status[wid] = st
                info = self.workers.pop(wid, None)
                if info is not None:
                    self.sweep(info)
                    self.tidy(info)

    def wait_status(self, wid: int, wait: float):
        deadline = time.monotonic() + wait
        while wid not in self.status and time.monotonic() < deadline:
            self.reap()
            time.sleep(0.01)
        st = self.status.get(wid)
        if st is None:
            return None
        if os.WIFSIGNALED(st):
            return ("signal", os.WTERMSIG(st))
        return ("exit", os.WEXITSTATUS(st))

    def kill(self, wid: int) -> None:
        info = self.workers.get(wid)
        if info is None:
            return
        try:
            os.kill(info["pid"], signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.sweep(info)
        deadline = time.monotonic() + 2.0
        while wid in self.workers and time.monotonic() < deadline:
            self.reap()
            time.sleep(0.005)

    def tidy(self, info: dict) -> None:
        """A dead worker's files go (its /tmp and /dev/shm went with its mount namespace)."""
        import shutil
        shutil.rmtree(info["dir"], ignore_errors=True)

    def sweep(self, info: dict | None) -> None:
        """Without a pid namespace per worker, also kill its process group, everything of its uid, and
        every stray child of ours (orphans of workers come to us: we are their subreaper)."""
        if self.sandbox:
            return  # killing the worker (its pid namespace's init) killed everything in it
        if info is None:
            self.kill_strays()
            return
        try:
            os.killpg(info["pid"], signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.kill_strays()
        uid = info.get("uid")
        if uid:
            pid = os.fork()
            if pid == 0:
                try:
                    os.setresgid(uid, uid, uid)
                    os.setresuid(uid, uid, uid)
                    os.kill(-1, signal.SIGKILL)
                finally:
                    os._exit(0)
            os.waitpid(pid, 0)

    def kill_strays(self) -> None:
        for _ in range(20):
            strays = [pid for pid in _children(os.getpid()) if pid not in self.by_pid]
            if not strays:
                return
            for pid in strays:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(0.02)
            self.reap()

    def spawn(self, spec: dict, fds: list[int]) -> None:
        import secrets
        wid = self.next_wid
        self.next_wid += 1
        uid = 2_000_000_000 + secrets.randbelow(100_000_000) if self.drop_uid else 0
        workdir = os.path.join(self.base, f"w{wid}")
        try:
            os.makedirs(workdir, mode=0o700 if uid else 0o755)
            for rel, text in spec["files"].items():
                parts = rel.split("/")
                if rel.startswith("/") or any(p in ("", ".", "..") for p in parts):
                    raise ValueError(f"bad file name {rel!r}")
                path = os.path.join(workdir, *parts)
                os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
                with open(path, "wb") as f:
                    f.write(text)
                os.chmod(path, 0o644)
            if uid:
                os.chown(workdir, uid, uid)
        except (OSError, ValueError) as e:
            for fd in fds:
                os.close(fd)
            self.send(("error", f"cannot prepare the worker's directory: {e}"))
            return
        sys.stdout.flush()
        sys.stderr.flush()
        if not self.sandbox:  # a plain child: it dies with the zygote (PDEATHSIG), its group is ours to kill
            pid = os.fork()
            if pid == 0:
                worker_process(spec, workdir, uid, fds, self.config, self.ctl.fileno())
            for fd in fds:
                os.close(fd)
            self.register(wid, pid, uid, workdir)
            return
        r, w = os.pipe()
        helper = os.fork()
        if helper == 0:  # the helper: a new pid namespace for the worker, then out of the way
            try:
                os.close(r)
                namespaces.new_pid_and_mount_namespace()
                pid = os.fork()
                if pid == 0:
                    os.close(w)
                    worker_process(spec, workdir, uid, fds, self.config, self.ctl.fileno())
                os.write(w, str(pid).encode())
            finally:
                os._exit(0)
        os.close(w)
        data = b""
        while True:
            chunk = os.read(r, 64)
            if not chunk:
                break
            data += chunk
        os.close(r)
        os.waitpid(helper, 0)
        for fd in fds:
            os.close(fd)
        if not data:
            self.send(("error", "the worker could not be forked"))
            return
        self.register(wid, int(data), uid, workdir)

    def register(self, wid: int, pid: int, uid: int, workdir: str) -> None:
        info = {"pid": pid, "uid": uid, "dir": workdir}
        self.workers[wid] = info
        self.by_pid[pid] = wid
        if pid in self.early:  # it died before we knew its pid
            self.status[wid] = self.early.pop(pid)
            del self.workers[wid], self.by_pid[pid]
            self.sweep(info)
            self.tidy(info)
        self.send(("spawned", wid, pid))


def worker_process(spec: dict, workdir: str, uid: int, fds: list[int], config: dict, ctl_fd: int):
    """The forked worker: lock itself down, then serve. Never returns."""
    try:
        os.setsid()
        data_fd, log_fd = fds
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        null = os.open("/dev/null", os.O_RDONLY)
        os.dup2(null, 0)
        keep = {0, 1, 2, data_fd}
        for fd in _open_fds():
            if fd not in keep:
                try:
                    os.close(fd)
                except OSError:
                    pass
        if config["sandbox"]:
            namespaces.own_proc_and_tmp(workdir, uid)  # pid 1 of its namespace: its own /proc, /tmp, /sandbox
        os.chdir(workdir)
        os.environ["HOME"] = workdir
        os.environ["TMPDIR"] = "/tmp" if config["sandbox"] else workdir
        import resource
        limits = spec["limits"]
        base_vm = _vm_size()
        for name, value in (("RLIMIT_AS", base_vm + limits["memory"] if limits.get("memory") else None),
                            ("RLIMIT_CPU", limits.get("cpu")), ("RLIMIT_FSIZE", limits.get("fsize")),
                            ("RLIMIT_NOFILE", limits.get("nofile")), ("RLIMIT_NPROC", limits.get("nproc")),
                            ("RLIMIT_CORE", 0)):
            if value is None or not hasattr(resource, name):
                continue
            hard = value + 5 if name == "RLIMIT_CPU" else value
            resource.setrlimit(getattr(resource, name), (value, hard))
        if uid:  # from uid 0 to another uid: every capability goes with it
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
        if os.geteuid() == 0 and not config["sandbox"]:
            raise PermissionError("refusing to run a submission as root outside a pid namespace")
        prctl(PR_SET_DUMPABLE, 1)  # /proc/self belongs to the worker again (peak-memory measurement)
        if not config["sandbox"]:
            prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # dies with the zygote (no pid namespace here)
        sys.stdout = open(1, "w", encoding="utf-8", errors="replace", buffering=1, closefd=False)
        sys.stderr = open(2, "w", encoding="utf-8", errors="replace", buffering=1, closefd=False)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_DFL)
        sock = socket.socket(fileno=data_fd)
        sock.setblocking(True)
        from . import seccomp
        seccomp.worker_filter(os.getpid()).load()  # last: no_new_privs, then the worker's allowlist
        from .worker import Worker
        Worker(sock, spec, workdir).run()
    except BaseException as e:  # noqa: BLE001 - report on the log, then die
        try:
            import traceback
            where = traceback.extract_tb(e.__traceback__)[-1]
            os.write(2, f"worker setup failed: {type(e).__name__}: {e} (at {where.name}, line {where.lineno})\n".encode())
        except OSError:
            pass
    os._exit(70)


def _open_fds() -> list[int]:
    try:
        return [int(x) for x in os.listdir("/proc/self/fd")]
    except OSError:
        return list(range(3, 1024))


def _vm_size() -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 4 << 30


# --- boot -----------------------------------------------------------------------------------------

def warm_torch() -> None:
    """Run once the torch paths that initialise lazily and expensively, so no worker pays for them in its
    first call (forked workers share the result): ``torch.broadcast_shapes`` imports sympy and the
    symbolic-shape machinery on its first call (~0.4 s)."""
    import torch
    try:
        torch.broadcast_shapes((1,), (1,))
    except Exception:  # noqa: BLE001 - a convenience only
        pass


def boot(ctl_fd: int) -> None:
    """Entry point of the zygote process (``python -I -c``); the sandbox already exists around it."""
    import json
    ctl = socket.socket(fileno=ctl_fd)
    ctl.setblocking(True)

    def say(obj) -> None:
        data = json.dumps(obj).encode()
        ctl.sendall(len(data).to_bytes(8, "little") + data)

    # torch and the grader's worker code load now, once, before any submission exists
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch  # noqa: F401
    import numpy  # noqa: F401
    from .. import wire, loading  # noqa: F401
    from . import worker, seccomp  # noqa: F401 - each worker builds its filter with it
    import pyseccomp  # noqa: F401
    n = int.from_bytes(wire.recv_exact(ctl, 8), "little")  # the config: plain JSON from the trusted side
    config = json.loads(bytes(wire.recv_exact(ctl, n)))
    notes: list[str] = []
    sandbox = config["sandbox"]
    say({"setup": "ok", "notes": notes})
    for name in config.get("preload", []):
        try:
            __import__(name)
        except Exception:  # noqa: BLE001 - a convenience only
            pass
    warm_torch()
    os.chdir(config["workdir"])
    drop_uid = False
    if os.geteuid() == 0:
        # Never run a submission as root without namespaces: kill(-1) alone would take the machine down.
        # In bubblewrap as the real root, each worker gets its own uid too; in a user namespace (the grader
        # is not root) only uid 0 is mapped, and the workers stay uid 0 of that namespace.
        drop_uid = _can_drop_root()
        if not drop_uid and not sandbox:
            say({"setup_failed": "running as root without namespaces, and cannot switch to another uid"})
            return
        if not sandbox:
            import numpy as np
            if not readable_by_others([sys.executable, os.__file__, torch.__file__, np.__file__, config["workdir"]]):
                notes.append("the Python install is not readable by other users: only modules the zygote "
                             "preloaded can be imported")
    config["drop_uid"] = drop_uid
    try:
        prctl(PR_SET_DUMPABLE, 0)  # no ptrace into the zygote
        # the workers (orphaned by their helpers) and their orphans come back to us, to be reaped; and the
        # trusted side finds every worker in the zygote's process tree (grader.measuring, grader.meter)
        prctl(PR_SET_CHILD_SUBREAPER, 1)
    except OSError:
        pass
    say({"hello": True, "notes": notes, "drop_uid": drop_uid, "pid": os.getpid(),
         "proc_threads": len(os.listdir("/proc/self/task"))})
    ZygoteServer(ctl, config).serve()
    os._exit(0)  # no interpreter teardown (seconds with torch loaded); every worker is dead by now


def _can_drop_root() -> bool:
    pid = os.fork()
    if pid == 0:
        try:
            os.setgroups([])
            os.setresgid(2_111_111_111, 2_111_111_111, 2_111_111_111)
            os.setresuid(2_111_111_111, 2_111_111_111, 2_111_111_111)
            os._exit(0 if os.getuid() == 2_111_111_111 else 1)
        except BaseException:  # noqa: BLE001
            os._exit(1)
    _, st = os.waitpid(pid, 0)
    return os.WIFEXITED(st) and os.WEXITSTATUS(st) == 0


if __name__ == "__main__":
    boot(int(sys.argv[1]))
