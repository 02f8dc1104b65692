"""Integrity flags: things in a submission an interviewer should look at, never a change of score.

A static scan of each question's submitted module (the trusted side reads it as text; nothing runs),
for code that an exercise about LLM internals has no reason to contain and that a submission gaming
the grader would need:

- ``introspection``: frames or the garbage collector (``sys._getframe``, ``sys.settrace``, ``inspect``,
  ``gc.get_objects`` / ``get_referrers`` / ``get_referents``, ``f_back`` / ``f_globals`` / ``f_locals``),
  e.g. to find the caller's test or the trusted side's objects;
- ``ctypes``: ``ctypes`` / ``cffi``, a way around everything Python-level;
- ``/proc``: a path under ``/proc`` (or ``/sys/fs/cgroup``), e.g. resetting the peak-memory counter;
- ``threads``: threads, processes and CPU resources (``threading``, ``multiprocessing``,
  ``concurrent.futures``, ``subprocess``, ``os.fork``, ``torch.set_num_threads``,
  ``os.sched_setaffinity``, ...), e.g. to buy speed the single-threaded baseline does not get, or to run
  a kernel the operator trace does not see;
- ``private torch API``: ``torch._…``, ``torch._C…``, ``torch.ops…``;
- ``writes outside the working directory``: ``open(<absolute path>, "w")`` and the like
  (a literal path starting with ``/`` or ``~`` or holding ``..``).
A flag is {"kind", "what", "line", "detail"}. What it cannot see: names built at run time (the forbidden-call
check refuses dynamic lookups where it matters) and paths computed at run time.
"""
from __future__ import annotations

import ast
from pathlib import Path

from .forbidden import _aliases, _dotted

KINDS = {
    "introspection": "frame or gc introspection",
    "ctypes": "ctypes (native code)",
    "proc": "a /proc path",
    "threads": "threads, processes or CPU affinity",
    "private_torch": "a private torch API",
    "write_outside": "a write outside the working directory",
}
INTROSPECTION = {"sys._getframe", "sys._current_frames", "sys.settrace", "sys.setprofile", "gc.get_objects",
                 "gc.get_referrers", "gc.get_referents", "threading.settrace", "threading.setprofile"}
FRAME_ATTRS = {"f_back", "f_globals", "f_locals", "f_code", "tb_frame", "gi_frame", "cr_frame"}
THREADS = {"os.fork", "os.forkpty", "os.system", "os.popen", "os.posix_spawn", "os.posix_spawnp", "os.spawnv",
           "os.spawnl", "os.execv", "os.execl", "os.sched_setaffinity", "os.nice", "os.setpriority", "os.kill",
           "os.killpg", "torch.set_num_threads", "torch.set_num_interop_threads", "torch.multiprocessing"}
THREAD_MODULES = {"threading", "_thread", "multiprocessing", "concurrent", "subprocess", "signal", "asyncio"}
NATIVE_MODULES = {"ctypes", "_ctypes", "cffi"}
WRITE_MODES = set("wax+")
PATH_WRITES = {"write_text", "write_bytes", "touch", "mkdir", "unlink", "rename", "replace", "rmdir", "symlink_to",
               "hardlink_to", "chmod"}
OS_WRITES = {"os.remove", "os.unlink", "os.rename", "os.replace", "os.mkdir", "os.makedirs", "os.rmdir",
             "os.symlink", "os.link", "os.chmod", "os.truncate", "shutil.rmtree", "shutil.copy", "shutil.copy2",
             "shutil.copyfile", "shutil.move", "shutil.copytree"}


def _outside(value) -> bool:
    return isinstance(value, str) and (value.startswith(("/", "~")) or ".." in Path(value).parts)


def _const_str(node) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
        return str(node.values[0].value)  # f"/tmp/{x}": its literal start
    return None


def scan_source(source: str) -> list[dict]:
    """The integrity flags of one module's source (a syntax error is no flag: the tests report it)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    aliases = _aliases(tree)
    flags: dict[tuple, dict] = {}

    def flag(kind: str, node: ast.AST, detail: str) -> None:
        line = getattr(node, "lineno", 0)
        flags.setdefault((kind, line, detail), {"kind": kind, "what": KINDS[kind], "line": line,
                                                "detail": detail[:120]})

    inner = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Attribute)}  # a.b of a.b.c: one flag
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for m in mods:
                root = m.split(".")[0]
                if root in NATIVE_MODULES:
                    flag("ctypes", node, f"import {m}")
                elif root in THREAD_MODULES or m == "torch.multiprocessing":
                    flag("threads", node, f"import {m}")
                elif root in ("inspect", "gc"):
                    flag("introspection", node, f"import {m}")
                elif root == "torch" and any(p.startswith("_") for p in m.split(".")[1:]):
                    flag("private_torch", node, f"import {m}")
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "torch":
                for a in node.names:
                    if a.name.startswith("_") and not a.name.startswith("__") or a.name == "ops":
                        flag("private_torch", node, f"from {node.module} import {a.name}")
        elif isinstance(node, (ast.Attribute, ast.Name)):
            d = _dotted(node, aliases)
            if isinstance(node, ast.Attribute) and node.attr in FRAME_ATTRS:
                flag("introspection", node, f".{node.attr}")
            if d is None or id(node) in inner:
                continue
            parts = d.split(".")
            prefixes = {".".join(parts[:i]) for i in range(1, len(parts) + 1)}
            if prefixes & INTROSPECTION or parts[0] == "inspect" and len(parts) > 1:
                flag("introspection", node, d)
            elif prefixes & THREADS or parts[0] in THREAD_MODULES and len(parts) > 1:
                flag("threads", node, d)
            elif parts[0] in NATIVE_MODULES and len(parts) > 1:
                flag("ctypes", node, d)
            if parts[0] == "torch" and len(parts) > 1 and (parts[1] == "ops" or any(
                    p.startswith("_") and not p.startswith("__") for p in parts[1:])):
                flag("private_torch", node, d)
        elif isinstance(node, (ast.Constant, ast.JoinedStr)):
            s = _const_str(node)
            if s is not None and (s == "/proc" or s.startswith(("/proc/", "/sys/fs/cgroup"))):
                flag("proc", node, repr(s[:60]))
        if isinstance(node, ast.Call):
            _writes(node, aliases, flag)
    return sorted(flags.values(), key=lambda f: (f["line"], f["kind"], f["detail"]))


def _writes(node: ast.Call, aliases: dict[str, str], flag) -> None:
    d = _dotted(node.func, aliases) if isinstance(node.func, (ast.Name, ast.Attribute)) else None
    args = node.args
    if d in ("open", "io.open", "os.open", "builtins.open") and args:
        path = _const_str(args[0])
        mode = _const_str(args[1]) if len(args) > 1 else next(
            (_const_str(k.value) for k in node.keywords if k.arg in ("mode", "flags")), None)
        writes = d == "os.open" or (mode is not None and WRITE_MODES & set(mode))
        if writes and _outside(path):
            flag("write_outside", node, f"{d}({path!r}, {mode!r})")
    elif d in OS_WRITES and args and _outside(_const_str(args[-1] if d.startswith("shutil.c") or d.endswith(
            ("move", "rename", "replace")) else args[0])):
        flag("write_outside", node, f"{d}(...)")
    elif isinstance(node.func, ast.Attribute) and node.func.attr in PATH_WRITES | {"open"}:
        base = node.func.value
        if isinstance(base, ast.Call) and _dotted(base.func, aliases) in ("pathlib.Path", "Path", "pathlib.PurePath") \
                and base.args and _outside(_const_str(base.args[0])):
            mode = _const_str(args[0]) if args else None
            if node.func.attr != "open" or (mode is not None and WRITE_MODES & set(mode)):
                flag("write_outside", node, f"Path({_const_str(base.args[0])!r}).{node.func.attr}(...)")


def scan_submission(root: Path, qs) -> dict[str, list[dict]]:
    """{qid: flags} for each question's submitted module under ``root`` (a folder shaped like exercises/)."""
    out: dict[str, list[dict]] = {}
    for q in qs:
        path = Path(root) / q.qid / q.filename
        try:
            source = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        flags = scan_source(source)
        if flags:
            out[q.qid] = flags
    return out
