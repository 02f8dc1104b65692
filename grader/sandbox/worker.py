"""The worker's request loop: runs INSIDE the isolated process, next to the submission.

It loads the trusted copies of the question's given modules, then the submission, and answers the
trusted side's requests (call a function or a handle, read an attribute, ...) with plain data
(``grader.wire``). Objects that are not plain data stay here and go back as handles. Callables from
the trusted side arrive as stubs that call back. Everything in this process, this code included, is
at the submission's mercy; the trusted side relies on nothing said here beyond what it can check.
"""
from __future__ import annotations

import importlib.util
import sys
import traceback
from pathlib import Path
from typing import Any

import torch

from .. import optrace, wire
from ..loading import ChangedInPlace, SubmissionError, call_on_copies, guard_inputs, is_guarded, load_path
from ..vjp import vjp_call

# Errors that cross as themselves (the hidden suites test for ValueError and friends).
MAX_TEXT = 4000
_MISSING = object()


class CallbackError(Exception):
    """Raised inside the worker when a callable of the trusted side raised."""


class CallbackAbort(BaseException):
    """Raised inside the worker when a callable of the trusted side raised a BaseException."""


class CallbackStub:
    """Stands in for a callable of the trusted side: calling it asks the trusted side to run it."""

    __slots__ = ("_worker", "_cid", "__weakref__")

    def __init__(self, worker: "Worker", cid: int):
        self._worker = worker
        self._cid = cid

    def __call__(self, *args, **kwargs):
        if self._worker.differentiable and torch.is_grad_enabled():
            return self._worker.differentiable_callback(self._cid, args, kwargs)
        return self._worker.callback(self._cid, args, kwargs)

    def __repr__(self) -> str:
        return f"<callable of the grader #{self._cid}>"


class WorkerEncoder(wire.Encoder):
    def __init__(self, worker: "Worker"):
        super().__init__(worker.limits)
        self.worker = worker

    def other(self, obj: Any) -> None:
        if isinstance(obj, CallbackStub):
            self.callable_ref(obj._cid)
            return
        cls = type(obj)
        if wire.is_dataclass_instance(obj):
            self.dataclass_value(obj)
            return
        if getattr(cls, "__module__", None) in self.worker.given and hasattr(cls, "to_wire") \
                and hasattr(cls, "from_wire"):
            self.wire_object(obj)
            return
        hid = self.worker.register(obj)
        self.handle_ref(hid, _type_name(obj), 1 if callable(obj) else 0)


class GradEncoder(WorkerEncoder):
    """Marks the tensors that require grad (the trusted side makes them leaves) and keeps them in order."""

    def __init__(self, worker: "Worker"):
        super().__init__(worker)
        self.inputs: list[torch.Tensor] = []

    def tensor(self, t: torch.Tensor, flags: int = 0) -> None:
        if t.requires_grad and t.is_floating_point():
            self.inputs.append(t)
            flags |= 1
        super().tensor(t, flags)


class _ThroughGrader(torch.autograd.Function):
    """The output of a callable of the trusted side; its backward is asked of the trusted side too."""

    @staticmethod
    def forward(ctx, worker, key, result, *inputs):
        ctx.worker, ctx.key = worker, key
        ctx.inputs = [(tuple(t.shape), t.dtype) for t in inputs]
        return result.clone()

    @staticmethod
    def backward(ctx, grad):
        return (None, None, None, *ctx.worker.callback_vjp(ctx.key, grad, ctx.inputs))


class WorkerDecoder(wire.Decoder):
    def __init__(self, data, worker: "Worker", segments: list[torch.Tensor]):
        super().__init__(data, worker.limits, segments)
        self.worker = worker

    def callable_ref(self, cid: int) -> Any:
        return self.worker.stub(cid)

    def handle(self, hid: int, typename: str, flags: int) -> Any:
        try:
            return self.worker.handles[hid]
        except KeyError:
            raise wire.WireError(f"unknown handle {hid}") from None

    def dataclass_value(self, module: str, qualname: str, fields: dict) -> Any:
        cls = self.worker.given_class(module, qualname)
        if cls is not None and wire.dataclasses.is_dataclass(cls):
            return wire.build_dataclass(cls, fields)
        return fields

    def wire_object(self, module: str, qualname: str, state: Any, token: int = 0, raw: bytes | None = None) -> Any:
        cls = self.worker.given_class(module, qualname)
        if cls is None or not hasattr(cls, "from_wire"):
            raise wire.WireError(f"{module}.{qualname} is not a class of a given module")
        key = (token, module, qualname)
        cached = self.worker.wire_cache.get(key) if token else None
        if cached is not None and raw is not None and cached[0] == raw:
            return cached[1]  # the same object of the trusted side, unchanged: the same object here
        obj = cls.from_wire(state)
        if token and raw is not None:
            self.worker.wire_cache[key] = (raw, obj)
            while len(self.worker.wire_cache) > 8:
                self.worker.wire_cache.pop(next(iter(self.worker.wire_cache)))
        return obj


def _type_name(obj: Any) -> str:
    try:
        return type(obj).__name__[:100]
    except Exception:  # noqa: BLE001
        return "object"


def _text(fn, limit: int = MAX_TEXT) -> str:
    try:
        s = fn()
        s = str.__str__(s) if isinstance(s, str) else "<not a str>"
    except BaseException:  # noqa: BLE001 - a hostile __str__
        s = "<unprintable>"
    return s if len(s) <= limit else s[:limit] + " ..."


class Worker:
    def __init__(self, sock, spec: dict, workdir: str):
        self.sock = sock
        self.spec = spec
        self.qid = spec["qid"]
        self.filename = spec["filename"]
        self.given = set(spec["given"])
        self.workdir = workdir
        self.path = f"{workdir}/{self.qid}/{self.filename}"
        self.limits = wire.Limits()
        self.module = None
        self.handles: dict[int, Any] = {}
        self._handle_of: dict[int, int] = {}
        self._next_handle = 1
        self._stubs: dict[int, CallbackStub] = {}
        self.wire_cache: dict[tuple, tuple[bytes, Any]] = {}
        self.trace: set[str] | None = None  # operators the calls run, while the trusted side asks (optrace)
        self.differentiable = 0  # > 0 inside a vjp request: callbacks take part in autograd

    # --- plumbing ---------------------------------------------------------------------------------
    def send(self, obj: Any, encoder: wire.Encoder | None = None) -> None:
        enc = encoder or WorkerEncoder(self)
        try:
            parts = enc.message(obj)
        except BaseException as e:  # noqa: BLE001 - what the submission produced cannot cross: say so
            parts = WorkerEncoder(self).message(("error", {"kind": "wire", "type": _type_name(e),
                                                           "message": _text(lambda: str(e))}))
        wire.send_parts(self.sock, parts)

    def recv(self) -> WorkerDecoder:
        body, segments = wire.recv_frame(self.sock, self.limits)
        return WorkerDecoder(body, self, segments)

    def register(self, obj: Any) -> int:
        hid = self._handle_of.get(id(obj))
        if hid is not None and self.handles.get(hid) is obj:
            return hid
        hid = self._next_handle
        self._next_handle += 1
        self.handles[hid] = obj
        self._handle_of[id(obj)] = hid
        return hid

    def stub(self, cid: int) -> CallbackStub:
        s = self._stubs.get(cid)
        if s is None:
            s = self._stubs[cid] = CallbackStub(self, cid)
        return s

    def given_class(self, module: str, qualname: str):
        if module not in self.given:
            return None
        mod = sys.modules.get(module)
        obj = mod
        for part in qualname.split("."):
            obj = getattr(obj, part, None)
        return obj if isinstance(obj, type) else None

    # --- start ------------------------------------------------------------------------------------
    def run(self) -> None:
        for name in self.spec["given"]:
            path = f"{self.workdir}/{self.qid}/{name}.py"
            spec = importlib.util.spec_from_file_location(name, path)
            mod = importlib.util.module_from_spec(spec)
            sys.modules[name] = mod
            spec.loader.exec_module(mod)
        try:
            self.module = load_path(Path(self.path), f"_submission_{self.qid}_{self.filename[:-3]}")
        except SubmissionError as e:
            self.send(("import_error", str(e)))
            self.serve_forever(importable=False)
            return
        names = {}
        for name, value in list(vars(self.module).items()):
            if isinstance(name, str) and not name.startswith("__"):
                try:
                    names[name] = "callable" if callable(value) else "value"
                except BaseException:  # noqa: BLE001
                    names[name] = "value"
        self.send(("ready", {"names": names}))
        self.serve_forever()

    def serve_forever(self, importable: bool = True) -> None:
        while True:
            dec = self.recv()
            try:
                msg = dec.decode()
            except Exception as e:  # noqa: BLE001 - e.g. a given class refusing its state
                self.send(("error", {"kind": "decode", "type": _type_name(e), "message": _text(lambda: str(e))}))
                continue
            self.dispatch(msg, dec)

    # --- requests ---------------------------------------------------------------------------------
    def dispatch(self, msg: tuple, dec: WorkerDecoder) -> None:
        op = msg[0]
        if op == "release":
            for hid in msg[1]:
                obj = self.handles.pop(hid, None)
                if obj is not None and self._handle_of.get(id(obj)) == hid:
                    del self._handle_of[id(obj)]
            return
        if op == "call":
            self.do_call(msg, dec)
        elif op == "each":
            self.do_each(msg, dec)
        elif op == "get":
            self.do_get(msg)
        elif op == "vjp":
            self.do_vjp(msg, dec)
        elif op == "op":
            self.do_op(msg)
        elif op == "trace":  # ("trace", on): start recording the calls' operators, or stop and send them
            names, self.trace = self.trace, (set() if msg[1] else None)
            self.send(("ok", None if msg[1] or names is None else sorted(names), {}))
        elif op == "exit":
            sys.stdout.flush()
            import os
            os._exit(0)
        else:
            self.send(("error", {"kind": "protocol", "type": "ProtocolError", "message": f"unexpected {op!r}"}))

    def target(self, target: tuple) -> Any:
        """A module attribute or a handle; None plus an error sent when there is no such thing."""
        kind, ref = target
        if kind == "mod":
            try:
                return getattr(self.module, ref)
            except AttributeError:
                self.send(("error", {"kind": "missing", "type": "AttributeError", "message": str(ref)}))
                return _MISSING
        if ref not in self.handles:
            self.send(("error", {"kind": "stale", "type": "LookupError", "message": f"handle {ref}"}))
            return _MISSING
        return self.handles[ref]

    def do_call(self, msg: tuple, dec: WorkerDecoder) -> None:
        _, target, args, kwargs, _ = msg  # the last field is never honoured: only the trusted side measures
        self.do_each(("each", target, [(args, kwargs)]), dec, one=True)

    def do_each(self, msg: tuple, dec: WorkerDecoder, one: bool = False) -> None:
        """("each", target, [(args, kwargs), ...]): the calls in order, one reply with every result (or the
        first error). The generators of the request are shared by its calls, as in one process."""
        _, target, calls = msg
        fn = self.target(target)
        if fn is _MISSING:
            return
        guarded = target[0] == "mod" and is_guarded(fn)  # the rule of grader.loading.guard_inputs: by value
        if self.trace is not None:
            fn = optrace.traced(fn, self.trace)
        results = []
        for args, kwargs in calls:
            changed = None
            try:
                if guarded:
                    result, changed = call_on_copies(fn, args, kwargs)
                else:
                    result = fn(*args, **kwargs)
            except BaseException as e:  # noqa: BLE001 - everything is reported
                info = self.error_info(e)
                info["generators"] = self._generator_states(dec)
                self.send(("error", info))
                return
            if changed is not None:
                self.send(("error", {"kind": "changed", "type": "ChangedInPlace", "message": changed,
                                     "generators": self._generator_states(dec)}))
                return
            results.append(result)
        self.send(("ok", results[0] if one else results, {"generators": self._generator_states(dec)}))

    def do_vjp(self, msg: tuple, dec: WorkerDecoder) -> None:
        """Forward and backward here (``grader.vjp``); the trusted side compares the gradients."""
        _, target, args, kwargs, wrt, cotangent = msg
        fn = self.target(target)
        if fn is _MISSING:
            return
        self.differentiable += 1
        try:  # private copies, as in-process (grader.loading.guard_inputs), so both verdicts agree
            result = vjp_call(guard_inputs(str(target[1]), fn), args, kwargs, wrt, cotangent)
        except ChangedInPlace as e:  # the guard: an argument was changed in place
            self.send(("error", {"kind": "changed", "type": "ChangedInPlace", "message": e.which}))
            return
        except BaseException as e:  # noqa: BLE001 - everything is reported
            self.send(("error", self.error_info(e)))
            return
        finally:
            self.differentiable -= 1
        self.send(("ok", result, {"generators": self._generator_states(dec)}))

    def do_get(self, msg: tuple) -> None:
        _, target, name = msg
        obj = self.target(target) if target[0] == "h" else self.module
        if obj is _MISSING:
            return
        try:
            value = getattr(obj, name)
        except BaseException as e:  # noqa: BLE001
            info = self.error_info(e)
            if isinstance(e, AttributeError) and target[0] == "mod":
                info["kind"] = "missing"
                info["message"] = name
            self.send(("error", info))
            return
        self.send(("ok", value, {}))

    def do_op(self, msg: tuple) -> None:
        _, hid, op, args = msg
        obj = self.target(("h", hid))
        if obj is _MISSING:
            return
        try:
            if op == "len":
                value = len(obj)
            elif op == "getitem":
                value = obj[args[0]]
            elif op == "setitem":
                obj[args[0]] = args[1]
                value = None
            elif op == "delitem":
                del obj[args[0]]
                value = None
            elif op == "contains":
                value = bool(args[0] in obj)
            elif op == "iter":
                value = iter(obj)
            elif op == "next":
                try:
                    value = next(obj)
                except StopIteration:
                    self.send(("error", {"kind": "stop", "type": "StopIteration", "message": ""}))
                    return
            elif op == "bool":
                value = bool(obj)
            elif op == "setattr":
                setattr(obj, args[0], args[1])
                value = None
            else:
                raise TypeError(f"unsupported operation {op!r}")
        except BaseException as e:  # noqa: BLE001
            self.send(("error", self.error_info(e)))
            return
        self.send(("ok", value, {}))

    # --- calling back -----------------------------------------------------------------------------
    def callback(self, cid: int, args: tuple, kwargs: dict) -> Any:
        self.send(("callback", cid, args, kwargs))
        return self.reply()[1]

    def differentiable_callback(self, cid: int, args: tuple, kwargs: dict) -> Any:
        """A callback autograd goes through: the trusted side keeps its graph and answers the backward."""
        enc = GradEncoder(self)
        self.send(("callback", cid, args, kwargs, True), enc)
        msg = self.reply()
        result, key = msg[1], (msg[2] if len(msg) > 2 and type(msg[2]) is int else 0)
        if key and enc.inputs and isinstance(result, torch.Tensor) and result.is_floating_point():
            return _ThroughGrader.apply(self, key, result, *enc.inputs)
        return result

    def callback_vjp(self, key: int, grad: torch.Tensor, inputs: list) -> tuple:
        """The gradients of a differentiable callback's inputs, from the trusted side."""
        self.send(("callback_vjp", key, grad))
        grads = self.reply()[1]
        if not isinstance(grads, list) or len(grads) != len(inputs) or not all(
                g is None or isinstance(g, torch.Tensor) and tuple(g.shape) == tuple(shape)
                for g, (shape, _) in zip(grads, inputs)):
            raise RuntimeError("the grader sent malformed gradients for its callable")
        return tuple(None if g is None else g.to(dtype) for g, (_, dtype) in zip(grads, inputs))

    def reply(self) -> tuple:
        """Serve the trusted side's requests until it replies to ours (raising what its callable raised)."""
        while True:
            dec = self.recv()
            msg = dec.decode()
            if msg[0] == "reply":
                return msg
            if msg[0] == "raise":
                _, typename, message, token, base = msg
                if typename in wire.BUILTIN_ERRORS:
                    exc = wire.BUILTIN_ERRORS[typename](message)
                elif base:
                    exc = CallbackAbort(message)
                else:
                    exc = CallbackError(message)
                exc._grader_token = token
                raise exc
            self.dispatch(msg, dec)

    # --- results and errors -----------------------------------------------------------------------
    @staticmethod
    def _generator_states(dec: WorkerDecoder) -> list:
        out = []
        for idx in range(len(dec.generators)):
            g = dec.generators.get(idx)
            out.append(bytes(g.get_state().numpy().tobytes()) if g is not None else None)
        return out

    def error_info(self, e: BaseException) -> dict:
        where = None
        try:
            for frame, lineno in traceback.walk_tb(e.__traceback__):
                if frame.f_code.co_filename == self.path:
                    where = (getattr(frame.f_code, "co_qualname", frame.f_code.co_name), lineno)
        except BaseException:  # noqa: BLE001
            where = None
        token = 0
        try:
            t = e.__dict__.get("_grader_token", 0) if hasattr(e, "__dict__") else 0
            token = t if type(t) is int else 0
        except BaseException:  # noqa: BLE001
            token = 0
        info: dict = {"type": _type_name(e), "message": _text(lambda: str(e)), "where": where, "token": token}
        if isinstance(e, NotImplementedError):
            info["kind"] = "notimpl"
        elif isinstance(e, KeyError) and len(e.args) == 1 and isinstance(e.args[0], str):
            info["kind"] = "builtin"
            info["builtin"] = "KeyError"
            info["message"] = e.args[0][:MAX_TEXT]
        else:
            builtin = next((n for n, cls in wire.BUILTIN_ERRORS.items() if isinstance(e, cls)), None)
            info["kind"] = "builtin" if builtin else "other"
            if builtin:
                info["builtin"] = builtin
        if isinstance(e, SystemExit):
            info["kind"] = "exit"
            info["message"] = _text(lambda: repr(e.code), 200)
        elif isinstance(e, MemoryError):
            info["kind"] = "memory"
        elif isinstance(e, RecursionError):
            info["kind"] = "builtin"
            info["builtin"] = "RuntimeError"
        return info

