"""The sandbox's seccomp filters: ALLOWLISTS built with libseccomp (binding: ``pyseccomp``).

In the spirit of Docker's default profile: a syscall not named here fails with ``EPERM``; ``clone3``
fails with ``ENOSYS`` (glibc then falls back to ``clone``, whose flags can be checked); a syscall of
another ABI (x32 on x86_64, i386 through ``int 0x80``, any foreign architecture) kills the process
(libseccomp's bad-architecture action: only the native architecture is in the filter).

Two filters, one list:

- ``zygote_filter()`` goes to bubblewrap (``bwrap --seccomp FD``, as compiled BPF) and holds the zygote
  and everything it forks: the worker's allowlist plus what the zygote needs to make a worker
  (``unshare`` of a pid and mount namespace, ``mount`` of its ``/proc``, ``execve`` of Python itself);
- ``worker_filter(pid)`` is loaded by each worker on itself, after its set-up and before any submission
  code exists in it. Filters stack (the stricter answer wins), so a worker has the intersection:
  no namespaces, no mounts, no exec, no network sockets, no ``ptrace``/``process_vm_*``/``bpf``/
  ``io_uring``/``perf_event_open``/keyrings/``userfaultfd``/module or kexec loading/
  ``open_by_handle_at``, no personality change, signals only to itself.

``python -m grader.sandbox.seccomp`` prints both as libseccomp's readable PFC (``docs/sandbox.md``).
"""
from __future__ import annotations

import errno
import os
import sys

# What Python + torch (CPU) need, from Docker's default allowlist minus what a worker has no use for.
BASE_ALLOW = (
    # files and descriptors
    "read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev", "preadv2", "pwritev2",
    "open", "openat", "openat2", "close", "close_range", "creat", "lseek", "_llseek", "dup", "dup2", "dup3",
    "fcntl", "fcntl64", "ioctl", "flock", "fsync", "fdatasync", "sync_file_range", "ftruncate", "truncate",
    "fallocate", "fadvise64", "readahead", "sendfile", "copy_file_range", "splice", "tee",
    "stat", "fstat", "lstat", "newfstatat", "statx", "fstatat64", "stat64", "fstat64", "lstat64",
    "statfs", "fstatfs", "access", "faccessat", "faccessat2", "readlink", "readlinkat",
    "getdents", "getdents64", "getcwd", "chdir", "fchdir", "mkdir", "mkdirat", "rmdir", "unlink", "unlinkat",
    "rename", "renameat", "renameat2", "link", "linkat", "symlink", "symlinkat", "chmod", "fchmod", "fchmodat",
    "chown", "fchown", "fchownat", "lchown", "umask", "utime", "utimes", "utimensat", "futimesat",
    "getxattr", "lgetxattr", "fgetxattr", "listxattr", "llistxattr", "flistxattr",
    "pipe", "pipe2", "select", "pselect6", "poll", "ppoll", "epoll_create", "epoll_create1", "epoll_ctl",
    "epoll_wait", "epoll_pwait", "epoll_pwait2", "eventfd", "eventfd2", "inotify_init", "inotify_init1",
    "inotify_add_watch", "inotify_rm_watch", "memfd_create", "timerfd_create", "timerfd_settime",
    "timerfd_gettime", "signalfd", "signalfd4",
    # memory
    "brk", "mmap", "mmap2", "munmap", "mremap", "mprotect", "madvise", "msync", "mincore", "mlock", "mlock2",
    "munlock", "mlockall", "munlockall", "get_mempolicy", "set_mempolicy", "mbind", "membarrier",
    # threads, time, scheduling
    "futex", "futex_waitv", "set_robust_list", "get_robust_list", "set_tid_address", "rseq", "arch_prctl",
    "sched_yield", "sched_getaffinity", "sched_setaffinity", "sched_getparam", "sched_getscheduler",
    "sched_get_priority_max", "sched_get_priority_min", "sched_setparam", "sched_setscheduler",
    "sched_rr_get_interval", "sched_getattr", "sched_setattr", "getpriority", "setpriority",
    "nanosleep", "clock_nanosleep", "clock_gettime", "clock_getres", "gettimeofday", "time", "times",
    "getitimer", "setitimer", "alarm", "timer_create", "timer_settime", "timer_gettime", "timer_getoverrun",
    "timer_delete", "pause",
    # process state (no exec, no namespaces: see below)
    "exit", "exit_group", "wait4", "waitid", "getpid", "getppid", "gettid", "getpgid", "getpgrp", "getsid",
    "setsid", "setpgid", "getuid", "geteuid", "getgid", "getegid", "getresuid", "getresgid", "getgroups",
    "setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setgroups", "setfsuid", "setfsgid",
    "capget", "prctl", "getrlimit", "prlimit64", "setrlimit", "getrusage", "sysinfo", "uname", "getrandom",
    "getcpu", "restart_syscall", "sigaltstack", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn",
    "rt_sigpending", "rt_sigsuspend", "rt_sigtimedwait", "sigreturn", "vfork", "fork",
    # the worker's unix socket (socket() itself is limited to AF_UNIX below)
    "socketpair", "sendmsg", "recvmsg", "sendto", "recvfrom", "sendmmsg", "recvmmsg", "shutdown",
    "getsockname", "getpeername", "getsockopt", "setsockopt", "connect", "bind", "listen", "accept", "accept4",
)
# The zygote's extras (kept by bubblewrap's filter, refused again by each worker's own; `seccomp`: a worker
# loads its own filter with it).
ZYGOTE_ALLOW = ("execve", "execveat", "unshare", "mount", "umount2", "seccomp", "kill", "tgkill", "tkill",
                "rt_sigqueueinfo", "rt_tgsigqueueinfo")
AF_UNIX = 1
CLONE_NEW = 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000 | 0x00000080
# CLONE_NEWCGROUP(0x02000000) UTS IPC USER PID NET, CLONE_NEWTIME(0x80); CLONE_NEWNS = 0x00020000
CLONE_NEW |= 0x00020000
PERSONALITY_QUERY, PER_LINUX = 0xFFFFFFFF, 0


def _seccomp():
    import pyseccomp
    return pyseccomp


def _allow(f, sc, name: str, *args) -> None:
    try:
        if sc.resolve_syscall(sc.Arch.NATIVE, name) < 0:
            return  # not a syscall of this architecture (libseccomp's pseudo number)
        f.add_rule(sc.ALLOW, name, *args)
    except (RuntimeError, ValueError, OSError):
        pass


def _base(sc):
    f = sc.SyscallFilter(defaction=sc.ERRNO(errno.EPERM))
    f.set_attr(sc.Attr.ACT_BADARCH, sc.KILL_PROCESS)  # x32, i386, foreign ABIs: only the native one is in
    for name in BASE_ALLOW:
        _allow(f, sc, name)
    f.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")  # its flags sit in memory: glibc falls back to clone
    _allow(f, sc, "socket", sc.Arg(0, sc.EQ, AF_UNIX))
    for value in (PERSONALITY_QUERY, PER_LINUX):  # reading the personality, never changing it
        _allow(f, sc, "personality", sc.Arg(0, sc.EQ, value))
    return f


def zygote_filter():
    """The filter bubblewrap installs on the zygote: the base list, any ``clone``, and the zygote's extras."""
    sc = _seccomp()
    f = _base(sc)
    _allow(f, sc, "clone")
    for name in ZYGOTE_ALLOW:
        _allow(f, sc, name)
    return f


def worker_filter(pid: int):
    """A worker's own filter: ``clone`` without any CLONE_NEW* flag, signals to itself or its group only."""
    sc = _seccomp()
    f = _base(sc)
    _allow(f, sc, "clone", sc.Arg(0, sc.MASKED_EQ, CLONE_NEW, 0))
    for target in (0, pid):
        for name in ("kill", "rt_sigqueueinfo"):
            _allow(f, sc, name, sc.Arg(0, sc.EQ, target))
    _allow(f, sc, "tgkill", sc.Arg(0, sc.EQ, pid))
    return f


def write_bpf(f, path: str) -> None:
    """The compiled filter, for ``bwrap --seccomp FD``."""
    with open(path, "wb") as out:
        f.export_bpf(out)


def pfc(f) -> str:
    """libseccomp's readable form of a filter."""
    r, w = os.pipe()
    try:
        with os.fdopen(w, "w", closefd=True) as out:
            f.export_pfc(out)
        with os.fdopen(r, "r") as inp:
            r = -1
            return inp.read()
    finally:
        if r != -1:
            os.close(r)


def main() -> None:  # python -m grader.sandbox.seccomp
    sys.stdout.write("# bubblewrap's filter (the zygote and everything it forks)\n")
    sys.stdout.write(pfc(zygote_filter()))
    sys.stdout.write("\n# each worker's own filter (stacked on the first), for a worker that is pid 1\n")
    sys.stdout.write(pfc(worker_filter(1)))


if __name__ == "__main__":
    main()
