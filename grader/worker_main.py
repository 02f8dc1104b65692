"""The isolated side of the grader: a zygote that forks one worker per question.

The trusted side (``grader.isolation``) starts this module as ``python -I -c ...`` with a cleaned
environment, where the machine allows it inside ``unshare`` (new mount, pid, net, ipc and uts
namespaces). The zygote then

1. builds a minimal root (system dirs, the Python install and the venv, read-only; fresh /proc, /tmp,
   /dev) and ``pivot_root``s into it, so the project (solutions/, tests/, mutants/, .git), the
   submission's folder and the rest of the machine are not there at all;
2. imports torch once, before any submission code exists in the process;
3. forks a worker per question on request: the worker gets its own pid namespace (killing it kills
   everything it started), a unique unprivileged uid, rlimits, a scratch directory holding only the
   question's file and the trusted copies of its given modules, and its own data socket and log pipe.

Nothing here is trusted by the other side: the trusted side decodes what comes back with
``grader.wire`` (plain data only) and never runs code from here.
This module imports only the standard library at the top so the sandbox is set up before torch loads.
"""
from __future__ import annotations

import os
import signal
import socket
import sys
import time

# --- thin libc layer ------------------------------------------------------------------------------

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_MOVE, MS_REC = 32, 4096, 8192, 16384
MS_PRIVATE = 1 << 18
MNT_DETACH = 2
CLONE_NEWPID = 0x20000000
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_NO_NEW_PRIVS, PR_SET_CHILD_SUBREAPER = 1, 4, 38, 36
PR_CAPBSET_DROP, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 24, 47, 4

_libc = None


def libc():
    global _libc
    if _libc is None:
        import ctypes
        _libc = ctypes.CDLL(None, use_errno=True)
        _libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                                ctypes.c_char_p]
        _libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
        _libc.unshare.argtypes = [ctypes.c_int]
        _libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    return _libc


def _check(rc: int, what: str) -> None:
    if rc != 0:
        import ctypes
        e = ctypes.get_errno()
        raise OSError(e, f"{what}: {os.strerror(e)}")


def mount(src: str | None, dst: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = (lambda s: s.encode() if s is not None else None)
    _check(libc().mount(enc(src), enc(dst), enc(fstype), flags, enc(data)), f"mount {src or fstype} on {dst}")


def umount(path: str) -> None:
    _check(libc().umount2(path.encode(), MNT_DETACH), f"umount {path}")


def unshare(flags: int) -> None:
    _check(libc().unshare(flags), "unshare")


def prctl(option: int, arg: int = 0) -> None:
    _check(libc().prctl(option, arg, 0, 0, 0), f"prctl {option}")


def pivot_root_here() -> None:
    """pivot_root(".", "."): the classic way to switch root without a put_old directory."""
    nr = {"x86_64": 155, "aarch64": 41, "arm64": 41, "ppc64le": 203, "s390x": 217, "riscv64": 41}
    import platform
    number = nr.get(platform.machine())
    if number is None:
        raise OSError(f"pivot_root: unknown syscall number on {platform.machine()}")
    _check(libc().syscall(number, b".", b"."), "pivot_root")


# --- the minimal root -----------------------------------------------------------------------------

SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32", "/etc")
DEVICES = ("null", "zero", "full", "random", "urandom")


def _mkdirs(path: str) -> None:
    os.makedirs(path, mode=0o755, exist_ok=True)


def build_root(newroot: str, keep: list[str], notes: list[str]) -> None:
    """Mount a tmpfs on ``newroot`` and bind (read-only) the system dirs and ``keep`` into it."""
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    mount("tmpfs", newroot, "tmpfs", MS_NOSUID | MS_NODEV, "size=8m,mode=0755")
    done: list[str] = []

    def bind(path: str, recursive: bool = True, optional: bool = False) -> None:
        real = os.path.realpath(path)
        if not os.path.exists(real) or any(real == d or real.startswith(d + "/") for d in done):
            return
        target = newroot + real
        if os.path.isdir(real):
            _mkdirs(target)
        else:
            _mkdirs(os.path.dirname(target))
            open(target, "a").close()
        try:
            try:
                mount(real, target, None, MS_BIND | (MS_REC if recursive else 0))
            except OSError:
                if recursive:
                    raise
                mount(real, target, None, MS_BIND | MS_REC)
            mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
        except OSError as e:
            if not optional:
                raise
            notes.append(f"{real} not available ({e.strerror})")
            return
        done.append(real)

    for d in SYSTEM_DIRS:
        if os.path.islink(d):
            link = os.readlink(d)
            if not os.path.lexists(newroot + d):
                os.symlink(link, newroot + d)
            continue
        bind(d)
    # fresh /tmp and /sandbox BEFORE the kept paths: a venv that lives under /tmp (a CI clone there)
    # is then bound on top of the new /tmp instead of being hidden by it
    for d, size in (("/tmp", "64m"), ("/sandbox", "256m")):
        _mkdirs(newroot + d)
        mount("tmpfs", newroot + d, "tmpfs", MS_NOSUID | MS_NODEV, f"size={size},mode={'1777' if d == '/tmp' else '0755'}")
    for path in sorted(set(keep), key=len):
        bind(path)
        if os.path.realpath(path) != os.path.abspath(path) and not os.path.lexists(newroot + path):
            _mkdirs(os.path.dirname(newroot + path))
            os.symlink(os.path.realpath(path), newroot + path)
    bind("/sys", recursive=False, optional=True)
    # /dev: a few harmless devices only
    _mkdirs(newroot + "/dev")
    mount("tmpfs", newroot + "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "size=64k,mode=0755")
    for dev in DEVICES:
        open(f"{newroot}/dev/{dev}", "a").close()
        mount(f"/dev/{dev}", f"{newroot}/dev/{dev}", None, MS_BIND)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"{newroot}/dev/{name}")
    _mkdirs(newroot + "/dev/shm")
    mount("tmpfs", newroot + "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "size=64m,mode=1777")
    # /proc of this pid namespace (falls back to the host's where the kernel refuses a new one)
    _mkdirs(newroot + "/proc")
    try:
        mount("proc", newroot + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    except OSError as e:
        mount("/proc", newroot + "/proc", None, MS_BIND | MS_REC)
        notes.append(f"host /proc ({e.strerror} for a new one)")


def enter_root(newroot: str) -> None:
    os.chdir(newroot)
    pivot_root_here()
    umount(".")
    os.chdir("/")
    mount(None, "/", None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)


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

class Zygote:
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
        from . import wire
        wire.send_parts(self.ctl, wire.Encoder().message(obj))

    def serve(self) -> None:
        import select
        from . import wire
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
        """A dead worker's files go: its directory, and what its uid left in /tmp and /dev/shm."""
        import shutil
        if self.sandbox:
            try:
                umount(info["dir"])
            except OSError:
                pass
        shutil.rmtree(info["dir"], ignore_errors=True)
        uid = info.get("uid")
        if not uid or not self.sandbox:
            return
        for d in ("/tmp", "/dev/shm"):
            try:
                entries = list(os.scandir(d))
            except OSError:
                continue
            for e in entries:
                try:
                    if e.stat(follow_symlinks=False).st_uid == uid:
                        if e.is_dir(follow_symlinks=False):
                            shutil.rmtree(e.path, ignore_errors=True)
                        else:
                            os.unlink(e.path)
                except OSError:
                    pass

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
            os.makedirs(workdir, mode=0o755)
            if self.sandbox:  # a tmpfs of its own: a worker filling its disk space cannot hurt the next one
                mount("tmpfs", workdir, "tmpfs", MS_NOSUID | MS_NODEV, "size=64m,mode=0755")
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
                unshare(CLONE_NEWPID)
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
        if uid:
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
        else:
            drop_capabilities()
        if os.geteuid() == 0 and not config["sandbox"]:
            raise PermissionError("refusing to run a submission as root outside a pid namespace")
        prctl(PR_SET_NO_NEW_PRIVS, 1)
        prctl(PR_SET_DUMPABLE, 1)  # /proc/self belongs to the worker again (peak-memory measurement)
        if config.get("seccomp", True):
            install_seccomp()
        if not config["sandbox"]:
            prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # dies with the zygote (no pid namespace here)
        sys.stdout = open(1, "w", encoding="utf-8", errors="replace", buffering=1, closefd=False)
        sys.stderr = open(2, "w", encoding="utf-8", errors="replace", buffering=1, closefd=False)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_DFL)
        sock = socket.socket(fileno=data_fd)
        sock.setblocking(True)
        from .worker import Worker
        Worker(sock, spec, workdir).run()
    except BaseException as e:  # noqa: BLE001 - report on the log, then die
        try:
            os.write(2, f"worker setup failed: {type(e).__name__}: {e}\n".encode())
        except OSError:
            pass
    os._exit(70)


# seccomp: a worker may signal only itself (and its own process group), and may not ptrace or read/write
# other processes' memory. Syscall numbers per architecture: (audit arch, {name: number}).
SECCOMP_ARCHES = {
    "x86_64": (0xC000003E, {"kill": 62, "tkill": 200, "tgkill": 234, "rt_sigqueueinfo": 129,
                            "rt_tgsigqueueinfo": 297, "ptrace": 101, "process_vm_readv": 310,
                            "process_vm_writev": 311, "pidfd_send_signal": 424}),
    "aarch64": (0xC00000B7, {"kill": 129, "tkill": 130, "tgkill": 131, "rt_sigqueueinfo": 138,
                             "rt_tgsigqueueinfo": 240, "ptrace": 117, "process_vm_readv": 270,
                             "process_vm_writev": 271, "pidfd_send_signal": 424}),
}


def install_seccomp() -> bool:
    """A small BPF filter (needs no_new_privs first). Returns False where the architecture is unknown."""
    import ctypes
    import platform
    arch = SECCOMP_ARCHES.get(platform.machine())
    if arch is None:
        return False
    audit_arch, nr = arch
    me = os.getpid()
    LD, JEQ, JGE, RET = 0x20, 0x15, 0x35, 0x06  # BPF_LD|W|ABS, BPF_JMP|JEQ|K, BPF_JMP|JGE|K, BPF_RET|K
    ALLOW, DENY, KILL = 0x7FFF0000, 0x00050000 | 1, 0x80000000  # ERRNO(EPERM), KILL_PROCESS
    prog: list[tuple[int, int, int, int]] = []

    def op(code, k, jt=0, jf=0):
        prog.append((code, jt, jf, k))

    # layout: 0 arch check, then per-syscall tests, then the pid checks
    op(LD, 4)                                    # arch
    op(JEQ, audit_arch, 1, 0)
    op(RET, KILL)
    op(LD, 0)                                    # syscall number
    op(JGE, 0x40000000, 0, 1)                    # x32 and other aliases: refuse
    op(RET, DENY)
    pid_checked = ("kill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo")
    denied = ("tkill", "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_send_signal")
    for name in pid_checked:
        op(JEQ, nr[name], 0, 1)
        op(0x05, 0)                              # BPF_JMP|JA: patched below to the pid check
    for name in denied:
        op(JEQ, nr[name], 0, 1)
        op(RET, DENY)
    op(RET, ALLOW)
    check = len(prog)
    op(LD, 20)                                   # args[0], high word: must be 0 (pid >= 0)
    op(JEQ, 0, 1, 0)
    op(RET, DENY)
    op(LD, 16)                                   # args[0], low word: 0 (own group) or our own pid
    op(JEQ, 0, 2, 0)
    op(JEQ, me, 1, 0)
    op(RET, DENY)
    op(RET, ALLOW)
    for i, (code, jt, jf, k) in enumerate(prog):  # point the jumps at the pid check
        if code == 0x05:
            prog[i] = (code, 0, 0, check - i - 1)

    class Filter(ctypes.Structure):
        _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint32)]

    class Prog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(Filter))]

    filters = (Filter * len(prog))(*[Filter(c, jt, jf, k) for c, jt, jf, k in prog])
    fprog = Prog(len(prog), filters)
    rc = libc().prctl(22, 2, ctypes.cast(ctypes.pointer(fprog), ctypes.c_void_p).value, 0, 0)  # PR_SET_SECCOMP
    _check(rc, "seccomp")
    return True


def drop_capabilities() -> None:
    """Drop every capability (for a worker that stays uid 0 inside a user namespace)."""
    try:
        prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    except OSError:
        pass
    for cap in range(64):
        try:
            prctl(PR_CAPBSET_DROP, cap)
        except OSError:
            break
    import ctypes

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                    ("inheritable", ctypes.c_uint32)]

    header = Header(0x20080522, 0)
    data = (Data * 2)()
    nr = {"x86_64": 126, "aarch64": 91, "arm64": 91}
    import platform
    number = nr.get(platform.machine())
    if number is not None:
        libc().syscall(number, ctypes.byref(header), ctypes.byref(data))


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children", encoding="ascii") as f:
                out += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return out


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

def boot(ctl_fd: int) -> None:
    """Entry point of the zygote process (``python -I -c``)."""
    ctl = socket.socket(fileno=ctl_fd)
    ctl.setblocking(True)
    # The config comes first, as plain data; wire needs torch, so read it by hand (tiny JSON).
    import json
    n = int.from_bytes(_recv_exact(ctl, 8), "little")
    config = json.loads(_recv_exact(ctl, n))

    def say(obj) -> None:
        data = json.dumps(obj).encode()
        ctl.sendall(len(data).to_bytes(8, "little") + data)

    notes: list[str] = []
    sandbox = config["sandbox"]
    if sandbox:
        try:
            build_root(config["newroot"], config["keep"], notes)
        except OSError as e:
            say({"setup_failed": str(e)})
            return
    say({"setup": "ok", "notes": notes})
    # torch and the grader's worker code load now, once, before any submission exists
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch  # noqa: F401
    import numpy  # noqa: F401
    from . import wire, worker, loading  # noqa: F401
    for name in config.get("preload", []):
        try:
            __import__(name)
        except Exception:  # noqa: BLE001 - a convenience only
            pass
    drop_uid = False
    if sandbox:
        try:
            enter_root(config["newroot"])
        except OSError as e:
            say({"setup_failed": f"pivot_root: {e}"})
            return
        config["workdir"] = "/sandbox"
        drop_uid = os.geteuid() == 0 and config.get("root_ns", False)
    else:
        os.chdir(config["workdir"])
        if os.geteuid() == 0:
            # Never run a submission as root without namespaces: kill(-1) alone would take the machine down.
            drop_uid = True
            if not _can_drop_root():
                say({"setup_failed": "running as root without namespaces, and cannot switch to another uid"})
                return
            import numpy as np
            if not readable_by_others([sys.executable, os.__file__, torch.__file__, np.__file__, config["workdir"]]):
                notes.append("the Python install is not readable by other users: only modules the zygote "
                             "preloaded can be imported")
    config["drop_uid"] = drop_uid
    try:
        prctl(PR_SET_DUMPABLE, 0)  # no ptrace into the zygote
        if not sandbox:
            prctl(PR_SET_CHILD_SUBREAPER, 1)  # orphans of the workers come back to us, to be reaped
    except OSError:
        pass
    say({"hello": True, "notes": notes, "drop_uid": drop_uid, "pid": os.getpid(),
         "proc_threads": len(os.listdir("/proc/self/task"))})
    Zygote(ctl, config).serve()
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


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


if __name__ == "__main__":
    boot(int(sys.argv[1]))
