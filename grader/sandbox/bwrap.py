"""The bubblewrap command line that starts the grader's zygote (one sandbox per provider).

Inside: the system's ``/usr`` (and the ``/bin``, ``/lib*`` links into it), a few files of ``/etc``, the
Python install and the venv, all read-only; a copy of the worker's own grader modules (``WORKER_MODULES``,
nothing else of the project: no solutions, tests, mutants, .git, submissions); a fresh ``/proc`` and
``/dev``, a tmpfs ``/tmp`` and ``/sandbox`` (the workers' directories). New pid, network, ipc, uts and
cgroup namespaces (``--unshare-all`` but for the user namespace when the grader is root, so each worker
can get its own real unprivileged uid; with the user namespace otherwise), ``--die-with-parent``,
``--new-session``, every capability dropped but the few the zygote needs to make workers, and the
zygote's seccomp allowlist (``grader.sandbox.seccomp``) through ``--seccomp FD``.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

INSIDE_LIB = "/opt/llmgrade"  # where the staged grader modules appear in the sandbox
SANDBOX_DIR = "/sandbox"
SYSTEM_LINKS = ("/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32")
ETC_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/passwd", "/etc/group",
             "/etc/nsswitch.conf", "/etc/localtime", "/etc/alternatives", "/etc/os-release")
# what the zygote keeps (as root): make pid/mount namespaces and /proc (SYS_ADMIN), give each worker a uid
# (SETUID, SETGID, CHOWN), stop workers of other uids (KILL), tidy their directories (DAC_OVERRIDE, FOWNER)
ZYGOTE_CAPS = ("CAP_SYS_ADMIN", "CAP_SETUID", "CAP_SETGID", "CAP_CHOWN", "CAP_KILL", "CAP_DAC_OVERRIDE",
               "CAP_FOWNER")
WORKER_MODULES = ("__init__.py", "wire.py", "loading.py", "questions.py", "questions.toml", "meter.py", "optrace.py",
                  "vjp.py", "sandbox/__init__.py", "sandbox/zygote.py", "sandbox/worker.py", "sandbox/seccomp.py",
                  "sandbox/namespaces.py")


def executable() -> str | None:
    return shutil.which("bwrap")


def stage_modules(dest: Path) -> Path:
    """Copy the worker's grader modules to ``dest/grader`` (bound read-only at ``INSIDE_LIB``)."""
    package = Path(__file__).resolve().parent.parent
    for rel in WORKER_MODULES:
        target = dest / "grader" / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(package / rel, target)
    for d in [dest, *dest.rglob("*")]:
        os.chmod(d, 0o755 if d.is_dir() else 0o644)
    return dest


def python_paths() -> list[str]:
    """The Python install and the venv (their real paths, and the venv's own path where it is a link)."""
    keep = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix)}
    for p in sys.path:
        if p and os.path.isdir(p):
            real = os.path.realpath(p)
            if not any(real == k or real.startswith(k + "/") for k in keep) and "site-packages" in real:
                keep.add(real)
    return sorted(keep, key=len)


def _parents(path: str, made: set[str]) -> list[str]:
    """bubblewrap makes a bind's missing parents 0700: make them 0755, so the workers' uids get through."""
    out = []
    parts = path.strip("/").split("/")[:-1]
    for i in range(1, len(parts) + 1):
        d = "/" + "/".join(parts[:i])
        if d not in made and d not in ("/usr", "/etc", "/opt"):
            made.add(d)
            out += ["--perms", "0755", "--dir", d]
    return out


def argv(python_argv: list[str], *, staged: Path, seccomp_fd: int, as_root: bool,
         env: dict[str, str]) -> list[str]:
    out = ["bwrap"]
    out += ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"] \
        if as_root else ["--unshare-all"]
    out += ["--die-with-parent", "--new-session"]
    out += ["--ro-bind", "/usr", "/usr"]
    for link in SYSTEM_LINKS:
        if os.path.islink(link):
            out += ["--symlink", os.readlink(link), link]
        elif os.path.isdir(link):
            out += ["--ro-bind", link, link]
    for path in ETC_FILES:
        out += ["--ro-bind-try", path, path]
    out += ["--ro-bind-try", "/sys/devices/system/cpu", "/sys/devices/system/cpu"]  # torch's CPU count
    # /tmp first: a venv or Python under /tmp (a CI clone) is bound over it afterwards, not hidden by it
    out += ["--size", str(64 << 20), "--tmpfs", "/tmp"]
    made: set[str] = set()
    for path in python_paths():
        if not path.startswith("/usr/"):
            out += _parents(path, made) + ["--ro-bind", path, path]
    if os.path.realpath(sys.prefix) != os.path.abspath(sys.prefix):
        out += ["--symlink", os.path.realpath(sys.prefix), os.path.abspath(sys.prefix)]
    out += _parents(INSIDE_LIB, made) + ["--ro-bind", str(staged), INSIDE_LIB]
    out += ["--proc", "/proc", "--dev", "/dev"]
    out += ["--perms", "0755", "--tmpfs", SANDBOX_DIR]
    out += ["--cap-drop", "ALL"]
    if as_root:
        for cap in ZYGOTE_CAPS:
            out += ["--cap-add", cap]
    else:
        out += ["--cap-add", "CAP_SYS_ADMIN"]  # within the user namespace only: the workers' /proc
    out += ["--clearenv"]
    for k, v in env.items():
        out += ["--setenv", k, v]
    out += ["--chdir", SANDBOX_DIR, "--seccomp", str(seccomp_fd), "--", *python_argv]
    return out
