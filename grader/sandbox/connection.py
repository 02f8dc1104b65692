"""The client connection and session (trusted side): ``WorkerConn`` (one worker's socket: a request,
its callbacks, the reply, decoded as plain data) and ``QuestionSession`` (one question's worker, started
again after a crash or a time-out, its time-out budget, its errors as the test sees them)."""
from __future__ import annotations

import os
import signal
import socket
import sys
import time
import weakref
from typing import Any

import torch

from .. import wire
from ..loading import TRUSTED_EXERCISES, ChangedInPlace, GraderFault, SubmissionError, given_module, \
    question_dir_label
from ..questions import Question, get

from .launch import LogTail, MAX_SOURCE_BYTES, SIGNAL_TEXT, _Protocol, _TooLarge, _clean
from .proxies import RemoteFunction, RemoteObject, _remote_class, _tokens


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
            self.handle_ref(object.__getattribute__(obj, "_hid"), type(obj).__name__, 0)
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
            self.callable_ref(self.conn.register_callable(obj))
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
            raise wire.PeerClosed("the worker is not running")
        done = False
        self.depth += 1
        try:
            if self.pending_release:
                ids, self.pending_release = self.pending_release, []
                wire.send_all(self.sock, wire.Encoder().message(("release", ids)), deadline)
            if parts is not None:
                wire.send_all(self.sock, parts, deadline)
            while True:
                try:
                    body, segments = wire.recv_frame(self.sock, self.limits, deadline)
                    dec = TrustedDecoder(body, self, segments, deadline)
                    msg = dec.decode()
                except wire.WireLate:
                    raise wire.PeerTimeout() from None
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
            builtin = type(e).__name__ if wire.BUILTIN_ERRORS.get(type(e).__name__) is type(e) else None
            message = str(e) if not isinstance(e, KeyError) or len(e.args) != 1 else e.args[0]
            parts = wire.Encoder().message(("raise", builtin, str(message)[:4000], token,
                                            not isinstance(e, Exception)))
        wire.send_all(self.sock, parts, deadline)

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
        wire.send_all(self.sock, parts, deadline)


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
        except wire.PeerTimeout:
            conn.kill()
            self.fatal = (f"{self.label}: importing {self.question.filename} did not finish within {timeout:g} s"
                          f"{conn.log.tail()}")
            raise SubmissionError(self.fatal) from None
        except (wire.PeerClosed, _Protocol) as e:
            text = conn.exit_text() if isinstance(e, wire.PeerClosed) else str(e)
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
        except wire.PeerTimeout:
            conn.kill()
            self.timeouts += 1
            self.timeouts_by[what] = self.timeouts_by.get(what, 0) + 1
            raise SubmissionError(f"{what} did not finish within {timeout:g} s and was stopped"
                                  f"{conn.log.tail()}") from None
        except wire.PeerClosed:
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
        if kind == "builtin" and info.get("builtin") in wire.BUILTIN_ERRORS:
            e = wire.BUILTIN_ERRORS[info["builtin"]](message)
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

    def call_each(self, name: str, calls: list[tuple[tuple, dict]]) -> list:
        """The module function ``name`` called once per (args, kwargs), in order, in ONE request: the
        thousands of calls of a statistical test cost one round trip. The worker stops at the first error
        (raised here as a single call's would be); the whole batch has one call's time limit."""
        conn = self._runnable(name)
        request = ("each", ("mod", name), [(tuple(a), dict(k)) for a, k in calls])
        reply, enc, errors = self._exchange(conn, request, name)
        value, _ = self._result(reply, enc, errors, name)
        if not isinstance(value, list) or len(value) != len(calls):
            raise SubmissionError(f"{name}: the worker sent a malformed reply")
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
        from ..forbidden import trace_names
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
