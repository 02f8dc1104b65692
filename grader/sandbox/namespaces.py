"""The worker's own namespaces, on top of the sandbox bubblewrap built.

bubblewrap builds the sandbox (namespaces, the read-only root, /proc, /dev, /tmp, capabilities, the
zygote's seccomp filter); but a worker is FORKED from the zygote (torch already imported), and bubblewrap
can only exec a new program. So, per worker:

- the zygote's helper calls ``unshare(CLONE_NEWPID | CLONE_NEWNS)`` (``os.unshare`` from Python 3.12; on
  3.11, which lacks it, libc's ``unshare`` through ctypes: one call, no syscall number), and forks the worker;
- the worker (pid 1 of its new pid namespace, still privileged, before any submission code exists in it)
  mounts its own ``/proc``, ``/tmp``, ``/dev/shm`` and ``/sandbox`` with util-linux's ``mount(8)``, the
  system's own tool (one short exec per mount; the project makes no mount system call itself);
- its own seccomp filter then refuses ``unshare``, ``mount`` and ``execve`` to everything that follows.
"""
from __future__ import annotations

import os
import subprocess

CLONE_NEWNS, CLONE_NEWPID = 0x00020000, 0x20000000
MOUNT_PROGRAMS = ("/usr/bin/mount", "/bin/mount", "/usr/sbin/mount", "/sbin/mount")


def new_pid_and_mount_namespace() -> None:
    """The caller's next child is pid 1 of a new pid namespace, in a mount namespace of its own."""
    if hasattr(os, "unshare"):  # Python >= 3.12
        os.unshare(os.CLONE_NEWPID | os.CLONE_NEWNS)
        return
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    libc.unshare.argtypes = [ctypes.c_int]
    if libc.unshare(CLONE_NEWPID | CLONE_NEWNS) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"unshare(CLONE_NEWPID|CLONE_NEWNS): {os.strerror(e)}")


def mount_program() -> str | None:
    """util-linux's ``mount``, where the sandbox shows it (the system's /usr is bound read-only)."""
    return next((p for p in MOUNT_PROGRAMS if os.access(p, os.X_OK)), None)


def mount(*args: str) -> None:
    """``mount ARGS...`` (util-linux); OSError with its message when it fails."""
    program = mount_program()
    if program is None:
        raise OSError("util-linux's mount(8) is not installed (Debian: apt-get install mount)")
    done = subprocess.run([program, *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, env={"PATH": "/usr/bin:/bin", "LC_ALL": "C"}, timeout=30)
    if done.returncode != 0:
        text = done.stdout.decode("utf-8", "replace").strip()[:300]
        raise OSError(f"mount {' '.join(args)}: {text or f'exit status {done.returncode}'}")


def own_proc_and_tmp(workdir: str, uid: int, tmp_bytes: int = 64 << 20) -> None:
    """In the worker (pid 1 of its namespace): a /proc showing only its own processes, a fresh /tmp and
    /dev/shm, and a /sandbox of its own holding only ``workdir`` (its files, carried over): other workers'
    directories are not there, and filling its disk space cannot stop the next worker."""
    mount("--make-rprivate", "/")  # nothing mounted here reaches the zygote's namespace
    files = {}
    for here, _, names in os.walk(workdir):
        for name in names:
            path = os.path.join(here, name)
            with open(path, "rb") as f:
                files[os.path.relpath(path, workdir)] = f.read()
    top = "/" + workdir.strip("/").split("/")[0]
    mount("-t", "tmpfs", "-o", f"nosuid,nodev,size={tmp_bytes},mode=0755", "tmpfs", top)
    os.makedirs(workdir, mode=0o700)
    for rel, data in files.items():
        path = os.path.join(workdir, rel)
        os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        os.chmod(path, 0o644)
    if uid:
        os.chown(workdir, uid, uid)
    mount("-t", "proc", "-o", "nosuid,nodev,noexec", "proc", "/proc")
    for path in ("/tmp", "/dev/shm"):
        if os.path.isdir(path) and not _holds_python(path):
            mount("-t", "tmpfs", "-o", f"nosuid,nodev,size={tmp_bytes},mode=1777", "tmpfs", path)


def _holds_python(path: str) -> bool:
    """Python or the venv lives under ``path`` (e.g. a clone under /tmp): a fresh tmpfs there would hide the
    modules the worker still imports lazily, so that mount is left out (the sandbox's own tmpfs stays)."""
    import sys
    roots = {os.path.realpath(sys.prefix), os.path.realpath(sys.base_prefix),
             *(os.path.realpath(p) for p in sys.path if p)}
    top = path.rstrip("/") + "/"
    return any((r + "/").startswith(top) for r in roots)


PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_CHILD_SUBREAPER = 1, 4, 36


def prctl(option: int, arg: int = 0) -> None:
    """``prctl`` with one argument: PR_SET_DUMPABLE, PR_SET_PDEATHSIG, PR_SET_CHILD_SUBREAPER (libc's, through
    ctypes: the standard library has no prctl)."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    if libc.prctl(option, arg, 0, 0, 0) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"prctl {option}: {os.strerror(e)}")
