"""The sandbox seen from inside a worker (grader/sandbox/): what a submission may not do, probed by one.

The probe below is an attacker's module run as an ordinary submission through the isolated grader. It
calls the kernel directly (``ctypes``, numbers from libseccomp for this architecture) and reports the
errno of each call. Issue 14 requires EPERM (or ENOSYS) for every dangerous syscall, a worker pid 1 of
its own pid namespace with a /proc of its own, other workers' directories unreadable, and no network.
``--require-isolation`` refuses to grade (exit 3) where full isolation is missing (forced here).
One provider for the whole file (~15 s); the CLI test adds ~10 s.
"""
from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from grader.isolation import IsolationUnavailable, WorkerProvider
from grader.loading import SubmissionError
from grader.questions import PROJECT_ROOT

pytestmark = pytest.mark.skipif(not shutil.which("bwrap") or "LLMGRADE_ISOLATION" in os.environ,
                                reason="full isolation (bubblewrap) not available or a level is forced")

PROBE = r'''
import ctypes, errno, os, socket

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
CLONE_NEWUSER, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x00020000, 0x20000000, 0x40000000


def _nr(name):
    import pyseccomp
    return pyseccomp.resolve_syscall(pyseccomp.Arch.NATIVE, name)


def _call(name, *args):
    ctypes.set_errno(0)
    args = [ctypes.c_long(a) if isinstance(a, int) else a for a in args]
    rc = libc.syscall(ctypes.c_long(_nr(name)), *args)
    return 0 if rc >= 0 else ctypes.get_errno()


def probe():
    """{what: errno (0 = the call succeeded)} for each dangerous call."""
    buf = ctypes.create_string_buffer(256)
    out = {
        "unshare(CLONE_NEWUSER)": _call("unshare", CLONE_NEWUSER),
        "unshare(CLONE_NEWNS)": _call("unshare", CLONE_NEWNS),
        "setns": _call("setns", 0, 0),
        "mount": _call("mount", b"none", b"/tmp", b"tmpfs", 0, 0),
        "umount2": _call("umount2", b"/proc", 2),
        "pivot_root": _call("pivot_root", b".", b"."),
        "chroot": _call("chroot", b"/tmp"),
        "ptrace(PTRACE_TRACEME)": _call("ptrace", 0, 0, 0, 0),
        "bpf": _call("bpf", 0, buf, 64),
        "io_uring_setup": _call("io_uring_setup", 1, buf),
        "perf_event_open": _call("perf_event_open", buf, 0, -1, -1, 0),
        "keyctl": _call("keyctl", 0, 0, 0, 0, 0),
        "add_key": _call("add_key", b"user", b"x", b"y", 1, -3),
        "request_key": _call("request_key", b"user", b"x", 0, 0),
        "userfaultfd": _call("userfaultfd", 0),
        "kexec_load": _call("kexec_load", 0, 0, 0, 0),
        "init_module": _call("init_module", buf, 0, b""),
        "finit_module": _call("finit_module", 0, b"", 0),
        "open_by_handle_at": _call("open_by_handle_at", 0, buf, 0),
        "process_vm_readv": _call("process_vm_readv", 1, buf, 1, buf, 1, 0),
        "process_vm_writev": _call("process_vm_writev", 1, buf, 1, buf, 1, 0),
        "personality(ADDR_NO_RANDOMIZE)": _call("personality", 0x0040000),
        "personality(READ_IMPLIES_EXEC)": _call("personality", 0x0400000),
        "clone(CLONE_NEWUSER)": _call("clone", CLONE_NEWUSER | 17, 0, 0, 0, 0),
        "clone(CLONE_NEWNET)": _call("clone", CLONE_NEWNET | 17, 0, 0, 0, 0),
        "execve": _call("execve", b"/bin/true", 0, 0),
        "kill(-1)": _call("kill", -1, 9),
        "pidfd_open": _call("pidfd_open", 1, 0),
        "seccomp": _call("seccomp", 1, 0, buf),
    }
    for family, name in ((socket.AF_INET, "socket(AF_INET)"), (socket.AF_INET6, "socket(AF_INET6)"),
                         (socket.AF_NETLINK, "socket(AF_NETLINK)"), (getattr(socket, "AF_PACKET", 17), "socket(AF_PACKET)")):
        try:
            socket.socket(family, socket.SOCK_DGRAM if family != socket.AF_NETLINK else socket.SOCK_RAW).close()
            out[name] = 0
        except OSError as e:
            out[name] = e.errno
    return out


def allowed():
    """What a worker still does: its own pid, a unix socket pair, reading the personality, a thread-free fork."""
    a, b = socket.socketpair()
    a.sendall(b"x")
    got = b.recv(1)
    return {"getpid": os.getpid(), "socketpair": got == b"x", "personality": _call("personality", 0xFFFFFFFF),
            "uid": os.getuid()}


def world():
    """What a worker sees: its /proc, its directory, the others'."""
    procs = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
    mine = os.path.basename(os.getcwd())
    others = {}
    for d in sorted(os.listdir("/sandbox")):
        if d != mine:
            try:
                others[d] = sorted(os.listdir(f"/sandbox/{d}"))
            except OSError as e:
                others[d] = e.errno
    return {"procs": procs, "others": others, "project": os.path.exists(os.path.join(%(root)r, "solutions")),
            "root": sorted(os.listdir("/"))}


def x32_getpid():
    return libc.syscall(ctypes.c_long(0x40000000 + 39))
'''


@pytest.fixture(scope="module")
def provider(tmp_path_factory):
    root = tmp_path_factory.mktemp("seccomp-probe")
    for qdir, module in (("q21", "causal_mask"), ("q20", "stopping")):
        (root / qdir).mkdir()
        (root / qdir / f"{module}.py").write_text(PROBE % {"root": str(PROJECT_ROOT)}, encoding="utf-8")
    p = WorkerProvider(root, call_timeout=30)
    yield p
    p.close()


def test_every_dangerous_syscall_is_refused(provider):
    got = provider.get("q21").probe()
    refused = {errno.EPERM, errno.ENOSYS}
    wrong = {k: (errno.errorcode.get(v, v) if v else "succeeded") for k, v in got.items() if v not in refused}
    assert not wrong, f"reached the kernel from a worker: {wrong}"
    assert provider.zygote.level_name == "full"


def test_what_a_worker_needs_still_works(provider):
    got = provider.get("q21").allowed()
    assert got["getpid"] == 1  # pid 1 of its own pid namespace
    assert got["socketpair"] is True and got["personality"] == 0
    if os.geteuid() == 0:
        assert got["uid"] >= 2_000_000_000


def test_a_worker_sees_only_itself(provider):
    provider.get("q20").allowed()  # a second worker is alive meanwhile
    seen = provider.get("q21").world()
    assert seen["procs"] == [1], seen  # its own /proc: not the zygote, not the other worker
    assert seen["others"] == {}, seen  # its own /sandbox: the other worker's directory is not even there
    assert seen["project"] is False  # the project (solutions/, tests/) is not in the sandbox


def test_another_abi_kills_the_worker(provider):
    with pytest.raises(SubmissionError, match="SIGSYS|died|signal"):
        provider.get("q20").x32_getpid()


def test_required_isolation_refuses_a_forced_fallback(monkeypatch):
    monkeypatch.setenv("LLMGRADE_REQUIRE_ISOLATION", "1")
    with pytest.raises(IsolationUnavailable, match="full isolation is required"):
        WorkerProvider(PROJECT_ROOT / "solutions", mode="process")


@pytest.mark.timeout(120)
def test_require_isolation_exits_3_where_only_processes_are_allowed():
    env = dict(os.environ, LLMGRADE_ISOLATION="process")
    proc = subprocess.run([sys.executable, "-m", "grader.cli", "grade", "solutions", "--only", "q21", "--quiet",
                           "--no-timing", "--require-isolation"], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=100, env=env)
    assert proc.returncode == 3, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "full isolation is required" in proc.stderr and "LLMGRADE_ISOLATION=process" in proc.stderr, proc.stderr


def test_the_filters_are_documented():
    """docs/sandbox.md holds libseccomp's own dump of both filters, naming the syscalls the code allows."""
    import re
    from grader.sandbox import seccomp
    doc = (PROJECT_ROOT / "docs" / "sandbox.md").read_text(encoding="utf-8")
    assert "--seccomp" in doc and "export_pfc" in doc and "action ERRNO(1);" in doc
    named = re.compile(r'# filter for syscall "(\w+)"')
    live = seccomp.pfc(seccomp.zygote_filter()) + seccomp.pfc(seccomp.worker_filter(1))
    assert set(named.findall(doc)) == set(named.findall(live)), "regenerate: python -m grader.sandbox.seccomp"


def test_no_hand_written_mount_pivot_root_or_bpf():
    """Issue 14: namespaces and mounts come from bubblewrap and util-linux's mount(8), the filter from
    libseccomp; no file of the grader calls mount/pivot_root/capset through ctypes or writes BPF by hand."""
    import re
    from grader.questions import PROJECT_ROOT
    banned = re.compile(r"\b(libc|_libc|CDLL\([^)]*\))\.(mount|umount2?|pivot_root|capset|syscall|seccomp)\b"
                        r"|\bpivot_root\b|SECCOMP_SET_MODE_FILTER|BPF_(LD|JMP|RET|STMT)|sock_filter|MS_PRIVATE")
    hits = [f"{p.relative_to(PROJECT_ROOT)}:{i}: {line.strip()}"
            for p in sorted((PROJECT_ROOT / "grader").rglob("*.py"))
            for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if banned.search(line)]
    assert not hits, "hand-written sandbox machinery:\n" + "\n".join(hits)
