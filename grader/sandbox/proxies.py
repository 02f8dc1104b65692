"""The remote proxies (trusted side): ``SubmissionProxy`` (the ``sub`` fixture's submission), functions
and handles to objects that live in the worker. Every use is a request of the question's session."""
from __future__ import annotations

import itertools
import re
from typing import Any


from ..questions import get



# --- handles --------------------------------------------------------------------------------------

_remote_classes: dict[str, type] = {}
_tokens = itertools.count(1)


def _remote_class(typename: str) -> type:
    name = re.sub(r"\W", "_", typename)[:80] or "object"
    if not name[0].isalpha() and name[0] != "_":
        name = "_" + name
    cls = _remote_classes.get(name)
    if cls is None:
        if len(_remote_classes) > 2000:
            return RemoteObject
        cls = type(name, (RemoteObject,), {"__slots__": (), "__module__": "submission"})
        _remote_classes[name] = cls
    return cls


class RemoteObject:
    """An object that lives in the worker: attribute reads, calls and a few operators go there.

    Comparison and hashing are by identity on this side (no ``__eq__`` that could lie).
    """

    __slots__ = ("_session", "_conn", "_hid", "_rlabel", "__weakref__")

    def __init__(self, session: "QuestionSession", conn: "WorkerConn", hid: int, label: str):
        object.__setattr__(self, "_session", session)
        object.__setattr__(self, "_conn", conn)
        object.__setattr__(self, "_hid", hid)
        object.__setattr__(self, "_rlabel", label)

    __eq__ = object.__eq__
    __ne__ = object.__ne__
    __hash__ = object.__hash__

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return self._session.remote_get(self, name)

    def __setattr__(self, name: str, value: Any) -> None:
        self._session.remote_op(self, "setattr", (name, value))

    def __call__(self, *args, **kwargs):
        return self._session.remote_call(self, args, kwargs)

    def __len__(self) -> int:
        n = self._session.remote_op(self, "len", ())
        if type(n) is not int or n < 0:
            raise TypeError(f"len() of a {type(self).__name__} gave {n!r}")
        return n

    def __getitem__(self, key):
        return self._session.remote_op(self, "getitem", (key,))

    def __setitem__(self, key, value) -> None:
        self._session.remote_op(self, "setitem", (key, value))

    def __delitem__(self, key) -> None:
        self._session.remote_op(self, "delitem", (key,))

    def __contains__(self, item) -> bool:
        return self._session.remote_op(self, "contains", (item,)) is True

    def __iter__(self):
        return self._session.remote_op(self, "iter", ())

    def __next__(self):
        return self._session.remote_op(self, "next", ())

    def __bool__(self) -> bool:
        return self._session.remote_op(self, "bool", ()) is True

    def __repr__(self) -> str:
        return f"<{type(self).__name__} object of the submission>"

    def __reduce_ex__(self, protocol):
        raise TypeError(f"a {type(self).__name__} of the submission cannot be copied or pickled")

    def __del__(self):
        try:
            object.__getattribute__(self, "_conn").release(object.__getattribute__(self, "_hid"))
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


class RemoteFunction:
    """A function (or class) of the submission's module; calling it runs it in the worker."""

    __slots__ = ("_session", "__name__", "__qualname__")

    def __init__(self, session: "QuestionSession", name: str):
        self._session = session
        self.__name__ = name
        self.__qualname__ = name

    def __call__(self, *args, **kwargs):
        return self._session.call(("mod", self.__name__), args, kwargs, what=self.__name__)

    def _call_each(self, calls: list[tuple[tuple, dict]]) -> list:
        """Every (args, kwargs) of ``calls`` in one request (``grader.checks.core.call_each``)."""
        return self._session.call_each(self.__name__, calls)

    def __repr__(self) -> str:
        return f"<function {self.__name__} of {self._session.label} (isolated)>"


class SubmissionProxy:
    """What ``sub`` is with ``--isolate``: the submission's module seen through a worker."""

    def __init__(self, session: QuestionSession):
        self._session = session
        self._question = session.question
        self._label = session.label
        self._path = session.path if session.path.exists() else None
        self._module = None

    def _measure(self, name: str, *args, _limit_bytes: int | None = None, **kwargs) -> tuple[Any, dict]:
        """Call ``name`` alone in a fresh worker; {'seconds', 'peak_bytes'} read from here (grader.measuring)."""
        from ..measuring import isolated_peak_memory
        return isolated_peak_memory(self._session, name, args, kwargs, _limit_bytes)

    def _timing(self):
        """A context manager giving the ``grader.measuring.Meter`` of a speed race (a fresh, lone worker)."""
        from ..measuring import isolated_timing
        return isolated_timing(self._session)

    def _vjp(self, name: str, args: tuple, kwargs: dict | None = None, *, wrt, cotangent) -> dict:
        """Run ``name`` forward and backward in the worker (``grader.vjp``): output, gradients, grad_fn flags."""
        from .. import vjp
        vjp.validate(args, kwargs or {}, wrt)
        return self._session.vjp(name, args, kwargs or {}, wrt, cotangent)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return self._session.module_attr(name)

    def __repr__(self) -> str:
        return f"<submission {self._label} (isolated)>"
