"""The wire format between the grader (trusted side) and an isolated worker: plain data, never pickle.

A frame is ``u64 body length, u32 n, n segment descriptors (dtype code, ndim, shape, nbytes), the n
segments' raw bytes, the body``. Segments carry big tensors: the receiver allocates each with
``torch.empty`` and reads the bytes straight into it (one copy, no pickle, sizes checked first). The
body is one encoded value, a one-byte tag and its payload:

    N None   T True   F False   i int64   I big int (length + signed little-endian bytes)
    f float  c complex   s str (UTF-8)   b bytes   r Fraction (two ints)
    l list   t tuple   d dict   S set   Z frozenset   (a count, then the items; dict: key, value)
    x tensor (dtype code, shape, raw bytes)   X tensor in segment n
    g torch.Generator (index within the message, its state bytes)
    y torch.dtype   v torch.device   e Ellipsis   p slice (start, stop, step)
    k callable living on the trusted side (its id)   h handle to an object living on the worker
    D dataclass (module, qualified name, fields)   W object of a given module (token, module, name, to_wire())

Decoding only ever builds builtins, ``Fraction``, tensors (``torch.frombuffer`` + ``clone``, or a
segment read into ``torch.empty``), generators and whatever the hooks build for ``k``/``h``/``D``/``W``; every length is
checked against ``Limits`` before anything is allocated or read. The trusted side decodes what a
worker sends with this module and nothing else, so what a reply can cost it is bounded: ints by their
digits (a ``Fraction``'s gcd stays in milliseconds), containers by their count of values and their
nesting, and the whole decoding by the call's deadline (``Decoder(deadline=...)``). A value over a
limit is a ``WireLimit`` whose text says what was too large and what the limit is.
"""
from __future__ import annotations

import dataclasses
import math
import select
import socket
import struct
import time
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Callable

import torch

DTYPES: tuple[torch.dtype, ...] = (
    torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64,
    torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.complex64, torch.complex128,
)
DTYPE_CODE = {d: i for i, d in enumerate(DTYPES)}
ITEMSIZE = {d: torch.empty((), dtype=d).element_size() for d in DTYPES}

_Q = struct.Struct("<q")
_D = struct.Struct("<d")
_DD = struct.Struct("<dd")
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_FRAME = struct.Struct("<QI")
BIG = 1 << 16  # tensors with at least this many bytes travel as segments (no copy on the way out)


# The built-in exceptions that cross the boundary as themselves (by name; anything else as a message).
BUILTIN_ERRORS: dict[str, type[Exception]] = {
    e.__name__: e for e in (ValueError, TypeError, IndexError, KeyError, ZeroDivisionError, OverflowError,
                            RuntimeError)}


class WireError(Exception):
    """Malformed data, an over-limit size, or a value the wire cannot carry."""


class WireLimit(WireError):
    """A value over one of the ``Limits``; the text says which and by how much."""


class WireLate(WireLimit):
    """Decoding was not finished by the ``deadline`` it was given."""


@dataclass(frozen=True)
class Limits:
    max_message: int = 1 << 30  # bytes in one message
    max_tensor: int = 1 << 30  # bytes in one tensor
    max_bytes: int = 64 << 20  # bytes in one str or bytes value
    max_int_digits: int = 10_000  # decimal digits of one int (Q29's values stop at 4,000 digits)
    max_items: int = 250_000  # values in one message (each item of a container, each tensor, ...)
    max_depth: int = 200  # nesting

    @property
    def max_int_bytes(self) -> int:
        """Bytes of the signed little-endian form of the largest int allowed."""
        return (math.ceil(self.max_int_digits * math.log2(10)) + 8) // 8


DEFAULT_LIMITS = Limits()
_DIGITS_PER_BYTE = 8 * math.log10(2)


def _int_too_large(nbytes: int, limits: Limits) -> WireLimit:
    return WireLimit(f"an int of about {int(nbytes * _DIGITS_PER_BYTE):,} digits; the grader accepts at most "
                     f"{limits.max_int_digits:,}")


def _too_many(limits: Limits, n: int | None = None) -> WireLimit:
    what = f"a list, tuple or set of {n:,} items" if n is not None else f"more than {limits.max_items:,} values"
    return WireLimit(f"{what}; the grader accepts at most {limits.max_items:,} values in one message")


# --- encoding ------------------------------------------------------------------------------------

class Encoder:
    """Encodes one value into a list of buffers (big tensors stay separate buffers).

    Subclasses decide about everything that is not plain data by overriding ``other``.
    ``generators`` collects the generators met, in order (their index is their position).
    """

    def __init__(self, limits: Limits = DEFAULT_LIMITS):
        self.limits = limits
        self.buf = bytearray()
        self.parts: list = []
        self.size = 0
        self.generators: list[torch.Generator] = []
        self._gen_index: dict[int, int] = {}
        self._depth = 0
        self.items = 0
        self.segments: list[tuple[bytes, memoryview]] = []  # (descriptor, raw bytes)

    # public
    def message(self, obj: Any) -> list:
        """The frame as a list of buffers: header and descriptors, segments, body."""
        self.value(obj)
        self._flush()
        body = b"".join(bytes(p) for p in self.parts)
        total = len(body) + sum(seg.nbytes for _, seg in self.segments)
        if total > self.limits.max_message:
            raise WireLimit(f"a message of {total:,} bytes; the grader accepts at most {self.limits.max_message:,}")
        head = bytearray(_FRAME.pack(len(body), len(self.segments)))
        for desc, _ in self.segments:
            head += desc
        return [bytes(head), *(seg for _, seg in self.segments), body]

    def _flush(self) -> None:
        if self.buf:
            self.parts.append(bytes(self.buf))
            self.buf = bytearray()

    def value(self, obj: Any) -> None:
        self._depth += 1
        self.items += 1
        if self._depth > self.limits.max_depth:
            raise WireLimit(f"data nested more than {self.limits.max_depth} levels deep; the grader accepts at "
                            f"most {self.limits.max_depth}")
        if self.items > self.limits.max_items:
            raise _too_many(self.limits)
        try:
            self._value(obj)
        finally:
            self._depth -= 1

    def _value(self, obj: Any) -> None:  # noqa: C901 - one dispatch
        buf = self.buf
        if obj is None:
            buf += b"N"
        elif obj is True or obj is False or isinstance(obj, bool):
            buf += b"T" if obj else b"F"
        elif isinstance(obj, int):
            self.int(int.__index__(obj))
        elif isinstance(obj, float):
            buf += b"f"
            buf += _D.pack(float.__float__(obj))
        elif isinstance(obj, complex):
            buf += b"c"
            c = complex.__complex__(obj)
            buf += _DD.pack(c.real, c.imag)
        elif isinstance(obj, str):
            data = str.__str__(obj).encode("utf-8", "surrogatepass")
            self._blob(b"s", data)
        elif isinstance(obj, (bytes, bytearray, memoryview)):
            self._blob(b"b", bytes(obj))
        elif isinstance(obj, Fraction):
            buf += b"r"
            self.int(int(obj.numerator))
            self.int(int(obj.denominator))
        elif isinstance(obj, torch.Tensor):
            self.tensor(obj)
        elif isinstance(obj, torch.Generator):
            self.generator(obj)
        elif isinstance(obj, torch.dtype):
            if obj not in DTYPE_CODE:
                raise WireError(f"dtype {obj} cannot be sent")
            buf += b"y" + bytes([DTYPE_CODE[obj]])
        elif isinstance(obj, torch.device):
            buf += b"v"
            self.value(str(obj))
        elif isinstance(obj, list):
            self._seq(b"l", obj)
        elif isinstance(obj, tuple) and not _is_namedtuple(obj):
            self._seq(b"t", obj)
        elif isinstance(obj, dict):
            buf += b"d" + _U32.pack(len(obj))
            for k, v in list(dict.items(obj)):
                self.value(k)
                self.value(v)
        elif isinstance(obj, frozenset):
            self._seq(b"Z", list(obj))
        elif isinstance(obj, set):
            self._seq(b"S", list(obj))
        elif obj is Ellipsis:
            buf += b"e"
        elif isinstance(obj, slice):
            buf += b"p"
            self.value(obj.start)
            self.value(obj.stop)
            self.value(obj.step)
        else:
            self.other(obj)

    def int(self, n: int) -> None:
        if -(1 << 63) <= n < (1 << 63):
            self.buf += b"i"
            self.buf += _Q.pack(n)
            return
        nbytes = (n.bit_length() + 8) // 8  # room for the sign bit
        if nbytes > self.limits.max_int_bytes:
            raise _int_too_large(nbytes, self.limits)
        self._blob(b"I", n.to_bytes(nbytes, "little", signed=True))

    def _blob(self, tag: bytes, data: bytes) -> None:
        if len(data) > self.limits.max_bytes:
            raise WireLimit(f"a str/bytes value of {len(data):,} bytes; the grader accepts at most "
                            f"{self.limits.max_bytes:,}")
        self.buf += tag
        self.buf += _U32.pack(len(data))
        self.buf += data

    def _seq(self, tag: bytes, items) -> None:
        items = list(items)
        if len(items) > self.limits.max_items:
            raise _too_many(self.limits, len(items))
        self.buf += tag
        self.buf += _U32.pack(len(items))
        for item in items:
            self.value(item)

    def tensor(self, t: torch.Tensor, flags: int = 0) -> None:
        t = torch.Tensor.detach(t)
        if t.layout != torch.strided or t.device.type != "cpu" or t.is_quantized:
            raise WireError(f"only dense CPU tensors can be sent, got layout {t.layout} on {t.device}")
        if t.dtype not in DTYPE_CODE:
            raise WireError(f"tensors of dtype {t.dtype} cannot be sent")
        shape = tuple(int(s) for s in t.shape)
        nbytes = t.numel() * ITEMSIZE[t.dtype]
        if nbytes > self.limits.max_tensor:
            raise WireLimit(f"a tensor of {nbytes:,} bytes {shape}; the grader accepts at most {self.limits.max_tensor:,}")
        if len(shape) > 64:
            raise WireError("tensors have at most 64 dims")
        desc = bytes([DTYPE_CODE[t.dtype], len(shape)]) + b"".join(_U64.pack(s) for s in shape) + _U64.pack(nbytes)
        view = None
        if nbytes:
            flat = t.resolve_conj().resolve_neg().contiguous().reshape(-1)
            view = memoryview(flat.view(torch.uint8).numpy()).cast("B")
            if view.nbytes != nbytes:
                raise WireError("tensor data has an unexpected size")
        if nbytes >= BIG:
            self.buf += b"X" + _U32.pack(len(self.segments)) + bytes([flags])
            self.segments.append((desc, view))
            return
        self.buf += b"x" + bytes([flags]) + desc
        if view is not None:
            self.buf += view

    def generator(self, g: torch.Generator) -> None:
        idx = self._gen_index.get(id(g))
        if idx is None:
            idx = len(self.generators)
            self._gen_index[id(g)] = idx
            self.generators.append(g)
        state = bytes(g.get_state().numpy().tobytes())
        self.buf += b"g" + _U32.pack(idx)
        self._blob(b"b", state)

    def other(self, obj: Any) -> None:
        raise WireError(f"a {type(obj).__name__} cannot cross to the other side")

    # helpers for subclasses
    def dataclass_value(self, obj: Any) -> None:
        cls = type(obj)
        self.buf += b"D"
        self.value(str(getattr(cls, "__module__", "")))
        self.value(str(getattr(cls, "__qualname__", cls.__name__)))
        fields = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
        self.value(fields)

    def callable_ref(self, cid: int) -> None:
        """A callable that stays on the sending side, by number (the receiver calls it back)."""
        self.buf += b"k" + _U64.pack(cid)

    def handle_ref(self, hid: int, typename: str, flags: int) -> None:
        """An object of the worker, by number, with its type's name; ``flags`` 1: it is callable
        (the trusted side sends 0 when it hands a handle back)."""
        self.buf += b"h" + _U64.pack(hid)
        self.value(typename)
        self.buf += bytes([flags & 0xFF])

    def wire_object(self, obj: Any, token: int = 0) -> None:
        """``token`` names the sending side's object (0: none), so the receiver may keep one copy per object."""
        cls = type(obj)
        self.buf += b"W" + _U64.pack(token)
        self.value(str(cls.__module__))
        self.value(str(cls.__qualname__))
        self.value(obj.to_wire())


def _is_namedtuple(obj: Any) -> bool:
    return isinstance(obj, tuple) and hasattr(type(obj), "_fields") and type(obj) is not tuple


def is_dataclass_instance(obj: Any) -> bool:
    return dataclasses.is_dataclass(obj) and not isinstance(obj, type)


# --- decoding ------------------------------------------------------------------------------------

class Decoder:
    """Decodes one message body. Hooks (``callable_ref``, ``handle``, ``generator``, ``dataclass_value``,
    ``wire_object``) are overridden by the two sides; the defaults refuse.

    ``deadline`` (a ``time.monotonic()`` value) bounds the time decoding may take: past it, a ``WireLimit``.
    """

    def __init__(self, data, limits: Limits = DEFAULT_LIMITS, segments: list[torch.Tensor] | None = None,
                 deadline: float | None = None):
        self.mv = memoryview(data).cast("B") if not isinstance(data, memoryview) else data.cast("B")
        self.segments = segments or []
        self._used: set[int] = set()
        self.pos = 0
        self.limits = limits
        self.items = 0
        self.deadline = deadline
        self.generators: dict[int, torch.Generator] = {}
        self._plain: dict[int, bool] = {}  # id -> hashable plain data, for the tuples and frozensets built here

    def decode(self) -> Any:
        obj = self.value(0)
        if self.pos != len(self.mv):
            raise WireError(f"{len(self.mv) - self.pos} bytes left over after the value")
        return obj

    # primitive reads
    def _take(self, n: int) -> memoryview:
        end = self.pos + n
        if n < 0 or end > len(self.mv):
            raise WireError("the message ended in the middle of a value")
        out = self.mv[self.pos:end]
        self.pos = end
        return out

    def _u8(self) -> int:
        return self._take(1)[0]

    def _u32(self) -> int:
        return _U32.unpack(self._take(4))[0]

    def _u64(self) -> int:
        return _U64.unpack(self._take(8))[0]

    def _len(self, cap: int, what: str) -> int:
        n = self._u32()
        if n > cap:
            raise WireLimit(f"{what} of {n:,} bytes; the grader accepts at most {cap:,}")
        return n

    def _in_time(self) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise WireLate(f"reading it was not finished by the deadline ({self.items:,} values read)")

    def value(self, depth: int) -> Any:  # noqa: C901 - one dispatch
        if depth > self.limits.max_depth:
            raise WireLimit(f"data nested more than {self.limits.max_depth} levels deep; the grader accepts at "
                            f"most {self.limits.max_depth}")
        self.items += 1
        if self.items > self.limits.max_items:
            raise _too_many(self.limits)
        if not self.items & 1023:
            self._in_time()
        tag = self._u8()
        if tag == 78:  # N
            return None
        if tag == 84:  # T
            return True
        if tag == 70:  # F
            return False
        if tag == 105:  # i
            return _Q.unpack(self._take(8))[0]
        if tag == 73:  # I
            n = self._u32()
            if n > self.limits.max_int_bytes:
                raise _int_too_large(n, self.limits)
            return int.from_bytes(self._take(n), "little", signed=True)
        if tag == 102:  # f
            return _D.unpack(self._take(8))[0]
        if tag == 99:  # c
            re, im = _DD.unpack(self._take(16))
            return complex(re, im)
        if tag == 115:  # s
            n = self._len(self.limits.max_bytes, "a str")
            try:
                return str(self._take(n), "utf-8", "surrogatepass")
            except UnicodeDecodeError as e:
                raise WireError(f"a str that is not UTF-8: {e}") from None
        if tag == 98:  # b
            n = self._len(self.limits.max_bytes, "a bytes value")
            return bytes(self._take(n))
        if tag == 114:  # r
            num = self._int(depth)
            den = self._int(depth)
            if den == 0:
                raise WireError("a Fraction with denominator 0")
            out = Fraction(num, den)  # a gcd: milliseconds at the digits allowed, so the clock is read after each
            self._in_time()
            return out
        if tag == 108:  # l
            return self._items(depth)
        if tag == 116:  # t
            return self._hashable(tuple(self._items(depth)))
        if tag == 100:  # d
            n = self._u32()
            out: dict = {}
            for _ in range(n):
                k = self.value(depth + 1)
                if not self._is_plain(k):
                    raise WireError(f"a dict key of type {type(k).__name__}")
                out[k] = self.value(depth + 1)
            return out
        if tag == 83:  # S
            items = self._items(depth)
            if not all(self._is_plain(i) for i in items):
                raise WireError("a set item that is not hashable plain data")
            return set(items)
        if tag == 90:  # Z
            items = self._items(depth)
            if not all(self._is_plain(i) for i in items):
                raise WireError("a frozenset item that is not hashable plain data")
            return self._hashable(frozenset(items))
        if tag == 120:  # x
            flags = self._u8()
            return self.received(self._tensor(flags))
        if tag == 88:  # X
            idx = self._u32()
            flags = self._u8()
            if idx >= len(self.segments) or idx in self._used:
                raise WireError(f"a reference to segment {idx}, which is not there or was used already")
            self._used.add(idx)
            t = self.segments[idx]
            if flags & 1 and t.is_floating_point():
                t.requires_grad_(True)
            return self.received(t)
        if tag == 103:  # g
            idx = self._u32()
            state = self.value(depth + 1)
            if not isinstance(state, bytes):
                raise WireError("a generator state that is not bytes")
            return self.generator(idx, state)
        if tag == 121:  # y
            code = self._u8()
            if code >= len(DTYPES):
                raise WireError(f"unknown dtype code {code}")
            return DTYPES[code]
        if tag == 118:  # v
            name = self.value(depth + 1)
            if not isinstance(name, str) or len(name) > 64:
                raise WireError("a device that is not a short str")
            try:
                return torch.device(name)
            except (RuntimeError, ValueError) as e:
                raise WireError(f"bad device {name!r}: {e}") from None
        if tag == 101:  # e
            return Ellipsis
        if tag == 112:  # p
            a, b, c = (self.value(depth + 1) for _ in range(3))
            for x in (a, b, c):
                if x is not None and type(x) is not int:
                    raise WireError("a slice bound that is not an int or None")
            return slice(a, b, c)
        if tag == 107:  # k
            return self.callable_ref(self._u64())
        if tag == 104:  # h
            hid = self._u64()
            typename = self.value(depth + 1)
            flags = self._u8()
            if not isinstance(typename, str):
                raise WireError("a handle whose type name is not a str")
            return self.handle(hid, typename[:200], flags)
        if tag == 68:  # D
            module, qualname, fields = (self.value(depth + 1) for _ in range(3))
            if not (isinstance(module, str) and isinstance(qualname, str) and isinstance(fields, dict)
                    and all(isinstance(k, str) for k in fields)):
                raise WireError("a malformed dataclass")
            return self.dataclass_value(module, qualname, fields)
        if tag == 87:  # W
            token = self._u64()
            module, qualname = self.value(depth + 1), self.value(depth + 1)
            start, used = self.pos, len(self._used)
            state = self.value(depth + 1)
            # the state's bytes identify it, unless big tensors travelled beside it as segments
            raw = bytes(self.mv[start:self.pos]) if len(self._used) == used else None
            if not (isinstance(module, str) and isinstance(qualname, str)):
                raise WireError("a malformed given-module object")
            return self.wire_object(module, qualname, state, token, raw)
        raise WireError(f"unknown tag {tag!r} at byte {self.pos - 1}")

    def _int(self, depth: int) -> int:
        v = self.value(depth + 1)
        if type(v) is not int:
            raise WireError("expected an int")
        return v

    def _items(self, depth: int) -> list:
        n = self._u32()
        if self.items + n > self.limits.max_items:
            raise _too_many(self.limits, n if n > self.limits.max_items else None)
        return [self.value(depth + 1) for _ in range(n)]

    def _hashable(self, obj):
        """A tuple or frozenset just built: whether it is hashable plain data is worked out once, here."""
        self._plain[id(obj)] = all(self._is_plain(i) for i in obj)
        return obj

    def _is_plain(self, v: Any) -> bool:
        if type(v) is tuple or type(v) is frozenset:
            known = self._plain.get(id(v))
            return known if known is not None else _hashable_plain(v)
        return _hashable_plain(v)

    def _tensor(self, flags: int) -> torch.Tensor:
        dtype, shape, nbytes = descriptor(self._take, self.limits)
        if nbytes == 0:
            t = torch.empty(shape, dtype=dtype)
        else:
            data = self._take(nbytes)
            raw = torch.frombuffer(data, dtype=torch.uint8)
            if dtype == torch.bool:  # any byte but 0 is True: never an invalid bool
                t = (raw != 0).reshape(shape)
            else:
                t = raw.clone().view(dtype).reshape(shape)
        if flags & 1 and t.is_floating_point():
            t.requires_grad_(True)
        return t

    # hooks
    def received(self, t: torch.Tensor) -> torch.Tensor:
        return t

    def callable_ref(self, cid: int) -> Any:
        raise WireError("a callable cannot be received here")

    def handle(self, hid: int, typename: str, flags: int) -> Any:
        raise WireError("a handle cannot be received here")

    def generator(self, idx: int, state: bytes) -> torch.Generator:
        g = self.generators.get(idx)
        if g is None:
            g = torch.Generator()
            try:
                g.set_state(torch.frombuffer(bytearray(state), dtype=torch.uint8))
            except (RuntimeError, ValueError, TypeError) as e:
                raise WireError(f"a generator state that torch refuses: {e}") from None
            self.generators[idx] = g
        return g

    def dataclass_value(self, module: str, qualname: str, fields: dict) -> Any:
        return fields

    def wire_object(self, module: str, qualname: str, state: Any, token: int = 0, raw: bytes | None = None) -> Any:
        raise WireError(f"a {module}.{qualname} cannot be received here")


def _hashable_plain(v: Any) -> bool:
    if v is None or type(v) in (bool, int, float, complex, str, bytes, Fraction):
        return True
    if type(v) is tuple or type(v) is frozenset:
        return all(_hashable_plain(i) for i in v)
    return isinstance(v, torch.dtype) or type(v) is torch.device


def build_dataclass(cls: type, fields: dict) -> Any:
    """An instance of dataclass ``cls`` from its fields (init fields through the constructor)."""
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(fields) - set(known)
    if unknown:
        raise TypeError(f"{cls.__name__} has no field(s) {', '.join(sorted(unknown))}")
    obj = cls(**{k: v for k, v in fields.items() if known[k].init})
    for k, v in fields.items():
        if not known[k].init:
            object.__setattr__(obj, k, v)
    return obj


def descriptor(take, limits: Limits) -> tuple[torch.dtype, tuple[int, ...], int]:
    """Read and check a tensor descriptor: dtype code, ndim, shape, nbytes."""
    code, ndim = bytes(take(2))
    if code >= len(DTYPES):
        raise WireError(f"unknown dtype code {code}")
    if ndim > 64:
        raise WireError("a tensor with more than 64 dims")
    dtype = DTYPES[code]
    shape = tuple(_U64.unpack(take(8))[0] for _ in range(ndim))
    (nbytes,) = _U64.unpack(take(8))
    if math.prod(shape) * ITEMSIZE[dtype] != nbytes:
        raise WireError(f"a tensor of shape {shape} and dtype {dtype} cannot hold {nbytes} bytes")
    if nbytes > limits.max_tensor:
        raise WireLimit(f"a tensor of {nbytes:,} bytes {shape}; the grader accepts at most {limits.max_tensor:,}")
    return dtype, shape, nbytes


def read_frame(read_exact: Callable[[int], bytes], read_into: Callable[[memoryview], None],
               limits: Limits = DEFAULT_LIMITS) -> tuple[bytearray, list[torch.Tensor]]:
    """Read one frame with the given primitives: (body, segment tensors). Sizes are checked first."""
    body_len, n = _FRAME.unpack(read_exact(_FRAME.size))
    if body_len > limits.max_message or n > 1 << 16:
        raise WireLimit(f"a message of {body_len:,} bytes in {n:,} segments; the grader accepts at most "
                        f"{limits.max_message:,} bytes in {1 << 16:,} segments")
    descs = []
    total = body_len
    for _ in range(n):
        dtype, shape, nbytes = descriptor(read_exact, limits)
        total += nbytes
        if total > limits.max_message:
            raise WireLimit(f"a message of more than {limits.max_message:,} bytes; the grader accepts at most "
                            f"{limits.max_message:,}")
        descs.append((dtype, shape, nbytes))
    segments = []
    for dtype, shape, nbytes in descs:
        raw = torch.empty(nbytes, dtype=torch.uint8)
        if nbytes:
            read_into(memoryview(raw.numpy()).cast("B"))
        if dtype == torch.bool:  # any byte but 0 is True: never an invalid bool
            segments.append((raw != 0).reshape(shape))
        else:
            segments.append(raw.view(dtype).reshape(shape))
    return read_exact(body_len), segments


# --- framed I/O on blocking sockets (the worker's side) -------------------------------------------

def send_parts(sock, parts: list) -> None:
    small = bytearray()
    for p in parts:
        n = p.nbytes if isinstance(p, memoryview) else len(p)
        if n >= BIG:
            if small:
                sock.sendall(small)
                small = bytearray()
            sock.sendall(p)
        else:
            small += p
    if small:
        sock.sendall(small)


class PeerTimeout(Exception):
    """The other side sent or took nothing before the deadline."""


class PeerClosed(Exception):
    """The other side closed the connection (or the socket failed)."""


def recv_into(sock, view: memoryview, deadline: float | None = None) -> None:
    """Fill ``view`` from ``sock``; with a ``deadline`` (time.monotonic()) the socket is polled, never blocked on."""
    got, n = 0, len(view)
    while got < n:
        try:
            if deadline is None:
                k = sock.recv_into(view[got:], min(n - got, 1 << 22))
            else:  # what is already there is taken at once; select only when there is nothing yet
                try:
                    k = sock.recv_into(view[got:], min(n - got, 1 << 22), socket.MSG_DONTWAIT)
                except BlockingIOError:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0 or not select.select([sock], [], [], remaining)[0]:
                        raise PeerTimeout() from None
                    continue
        except OSError as e:
            raise PeerClosed(str(e)) from None
        if k == 0:
            raise PeerClosed("the other side closed the connection")
        got += k


def recv_exact(sock, n: int, deadline: float | None = None) -> bytearray:
    buf = bytearray(n)
    recv_into(sock, memoryview(buf), deadline)
    return buf


def recv_frame(sock, limits: Limits = DEFAULT_LIMITS, deadline: float | None = None
               ) -> tuple[bytearray, list[torch.Tensor]]:
    """One frame from ``sock``: (body, segment tensors)."""
    return read_frame(lambda n: recv_exact(sock, n, deadline), lambda v: recv_into(sock, v, deadline), limits)


def send_all(sock, parts: list, deadline: float) -> None:
    """Send ``parts`` before ``deadline``, polling (never blocked on a peer that stopped reading)."""
    for part in parts:
        view = memoryview(part).cast("B")
        off = 0
        while off < len(view):
            try:
                off += sock.send(view[off:off + (1 << 22)], socket.MSG_DONTWAIT)
                continue
            except BlockingIOError:  # the buffer is full: wait until the peer reads, up to the deadline
                pass
            except OSError as e:
                raise PeerClosed(str(e)) from None
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([], [sock], [], remaining)[1]:
                raise PeerTimeout()


def dumps(obj: Any, encoder_cls: Callable[..., Encoder] = Encoder) -> bytes:
    """A whole frame as bytes; for tests and small uses."""
    return b"".join(bytes(p) for p in encoder_cls().message(obj))


def loads(frame: bytes, decoder_cls: Callable[..., Decoder] = Decoder, limits: Limits = DEFAULT_LIMITS) -> Any:
    mv = memoryview(bytes(frame))
    pos = 0

    def take(n: int) -> memoryview:
        nonlocal pos
        if pos + n > len(mv):
            raise WireError("the frame ended early")
        out = mv[pos:pos + n]
        pos += n
        return out

    def into(view: memoryview) -> None:
        view[:] = take(len(view))

    body, segments = read_frame(lambda n: bytearray(take(n)), into, limits)
    if pos != len(mv):
        raise WireError("bytes left over after the frame")
    return decoder_cls(body, limits, segments).decode()
