"""The two kernel calls the zygote makes per worker, which Python 3.11's standard library lacks.

bubblewrap builds the sandbox (namespaces, the read-only root, /proc, /dev, /tmp, capabilities, the
zygote's seccomp filter); but a worker is FORKED from the zygote (torch already imported), and bubblewrap
can only exec a new program. So, per worker, the zygote's helper calls ``unshare(CLONE_NEWPID |
CLONE_NEWNS)`` and the worker (pid 1 of its new pid namespace, still privileged, before any submission
code exists in it) mounts its own ``/proc``, ``/tmp`` and ``/dev/shm``. Both are libc functions
(no syscall numbers), and the worker's own seccomp filter refuses them afterwards.
"""
from __future__ import annotations

import ctypes
import os

CLONE_NEWNS, CLONE_NEWPID = 0x00020000, 0x20000000
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REC, MS_PRIVATE = 2, 4, 8, 16384, 1 << 18

_libc = ctypes.CDLL(None, use_errno=True)
_libc.unshare.argtypes = [ctypes.c_int]
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]


def _check(rc: int, what: str) -> None:
    if rc != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"{what}: {os.strerror(e)}")


def new_pid_and_mount_namespace() -> None:
    """The caller's next child is pid 1 of a new pid namespace, in a mount namespace of its own."""
    _check(_libc.unshare(CLONE_NEWPID | CLONE_NEWNS), "unshare(CLONE_NEWPID|CLONE_NEWNS)")


def own_proc_and_tmp(workdir: str, uid: int, tmp_bytes: int = 64 << 20) -> None:
    """In the worker (pid 1 of its namespace): a /proc showing only its own processes, a fresh /tmp and
    /dev/shm, and a /sandbox of its own holding only ``workdir`` (its files, carried over): other workers'
    directories are not there, and filling its disk space cannot stop the next worker."""
    _check(_libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "make / private")
    files = {}
    for here, _, names in os.walk(workdir):
        for name in names:
            path = os.path.join(here, name)
            with open(path, "rb") as f:
                files[os.path.relpath(path, workdir)] = f.read()
    top = b"/" + workdir.strip("/").split("/")[0].encode()
    _check(_libc.mount(b"tmpfs", top, b"tmpfs", MS_NOSUID | MS_NODEV, b"size=%d,mode=0755" % tmp_bytes),
           f"mount {top.decode()}")
    os.makedirs(workdir, mode=0o700)
    for rel, data in files.items():
        path = os.path.join(workdir, rel)
        os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        os.chmod(path, 0o644)
    if uid:
        os.chown(workdir, uid, uid)
    _check(_libc.mount(b"proc", b"/proc", b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None), "mount /proc")
    for path, mode in ((b"/tmp", b"1777"), (b"/dev/shm", b"1777")):
        if os.path.isdir(path) and not _holds_python(path.decode()):
            _check(_libc.mount(b"tmpfs", path, b"tmpfs", MS_NOSUID | MS_NODEV,
                               b"size=%d,mode=%s" % (tmp_bytes, mode)), f"mount {path.decode()}")


def _holds_python(path: str) -> bool:
    """Python or the venv lives under ``path`` (e.g. a clone under /tmp): a fresh tmpfs there would hide the
    modules the worker still imports lazily, so that mount is left out (the sandbox's own tmpfs stays)."""
    import sys
    roots = {os.path.realpath(sys.prefix), os.path.realpath(sys.base_prefix),
             *(os.path.realpath(p) for p in sys.path if p)}
    top = path.rstrip("/") + "/"
    return any((r + "/").startswith(top) for r in roots)


PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_CHILD_SUBREAPER = 1, 4, 36
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]


def prctl(option: int, arg: int = 0) -> None:
    """``prctl`` with one argument: PR_SET_DUMPABLE, PR_SET_PDEATHSIG, PR_SET_CHILD_SUBREAPER."""
    _check(_libc.prctl(option, arg, 0, 0, 0), f"prctl {option}")
