"""The isolated worker behind ``sub`` with ``--isolate`` (grader/isolation.py, wire.py, worker*.py).

1. The wire format: every plain type round-trips; malformed or hostile frames only ever raise WireError.
2. The proxy keeps the semantics of an in-process module: callbacks (many, nested, raising), generators
   advancing, in-place changes of arguments failing the call (by value, as in-process), handles to the
   submission's objects,
   dataclasses and objects of given modules, errors as the same builtin types, NotImplementedError with
   its place, crashes and time-outs as clear messages followed by a fresh worker.
3. The proxy never changes a verdict: every hidden suite passes on the references through --isolate,
   fails on the stubs, and the mutants whose detection depends on the boundary (in-place edits, speed,
   peak memory) are still caught.
Overheads (start-up, a small call, an 8 MB tensor each way) are measured and printed.
"""
from __future__ import annotations

import math
import os
import random
import re
import shutil
import statistics
import sys
import textwrap
import time
from fractions import Fraction
from pathlib import Path

import pytest
import torch

from support import QUESTIONS, by_question, run_pytest
from grader import wire
from grader.checks import CheckFailure
from grader.isolation import RemoteObject, WorkerProvider
from grader.loading import SubmissionError, given_module
from grader.mutants import build, catalog, run_suite
from grader.questions import PROJECT_ROOT

# --- 1. the wire format ---------------------------------------------------------------------------

PLAIN = [
    None, True, False, 0, -1, 2 ** 63 - 1, -2 ** 63, 2 ** 64, -(10 ** 400), 7 ** 2000, 0.0, -0.0, 1.5, math.inf,
    -math.inf, 1e-308, complex(1, -2), "", "héllo 世界", "\ud800 lone surrogate", b"", b"\x00\xff" * 10,
    Fraction(1, 3), Fraction(-10 ** 30, 7), [], (), {}, [1, [2, (3, {"a": None})]], {"k": (1, 2), 3: "int key",
                                                                                     (1, "t"): [1.5]},
    {1, 2, "x"}, frozenset({(1, 2)}), slice(1, None, 2), Ellipsis, torch.float64, torch.bool, torch.device("cpu"),
]


@pytest.mark.parametrize("value", PLAIN, ids=lambda v: type(v).__name__)
def test_plain_values_round_trip(value):
    back = wire.loads(wire.dumps(value))
    assert type(back) is type(value) and back == value


def test_nan_round_trips():
    assert math.isnan(wire.loads(wire.dumps(math.nan)))


@pytest.mark.parametrize("dtype", wire.DTYPES, ids=str)
@pytest.mark.parametrize("shape", [(), (0,), (3, 0, 2), (5,), (4, 6), (70_000,)], ids=str)
def test_tensors_round_trip(dtype, shape):
    g = torch.Generator().manual_seed(0)
    t = (torch.randn(shape, generator=g, dtype=torch.float64) * 50).to(dtype)
    back = wire.loads(wire.dumps(t))
    assert type(back) is torch.Tensor and back.dtype == dtype and back.shape == t.shape
    assert torch.equal(back.view(-1).view(torch.uint8) if back.numel() else back,
                       t.reshape(-1).view(torch.uint8) if t.numel() else t)
    assert back.is_contiguous()


def test_strided_and_conjugate_tensors_round_trip():
    x = torch.randn(4, 6, dtype=torch.complex128)
    for t in (x.t(), x[:, ::2], x.conj(), x.t().conj()[1:]):
        assert torch.equal(wire.loads(wire.dumps(t)), t)


def test_a_big_tensor_travels_as_a_segment_and_owns_its_memory():
    t = torch.arange(1 << 20, dtype=torch.float64)
    frame = wire.dumps({"x": t, "y": [t[:3]]})
    back = wire.loads(frame)
    assert torch.equal(back["x"], t) and torch.equal(back["y"][0], t[:3])
    assert back["x"].untyped_storage().nbytes() == t.numel() * 8  # its own storage, not a view of the frame


def test_generator_state_round_trips():
    g = torch.Generator().manual_seed(123)
    torch.rand(5, generator=g)
    back = wire.loads(wire.dumps(g))
    assert torch.equal(torch.rand(7, generator=back), torch.rand(7, generator=g))


def test_bool_bytes_other_than_one_decode_as_true():
    frame = bytearray(wire.dumps(torch.zeros(70_000, dtype=torch.bool)))
    frame[100] = 7  # inside the segment's raw bytes
    back = wire.loads(bytes(frame))
    assert back.dtype == torch.bool and int(back.sum()) == 1 and bool(back[back.nonzero()[0]] == True)  # noqa: E712


def _frame(body: bytes) -> bytes:
    return wire._FRAME.pack(len(body), 0) + body


@pytest.mark.parametrize("body,why", [
    (b"Q", "unknown tag"),
    (b"l\x05\x00\x00\x00N", "a list shorter than it says"),
    (b"s\xff\xff\xff\x7f", "a str over the limit"),
    (b"d\x01\x00\x00\x00lNN", "an unhashable dict key"),
    (b"l\x01\x00\x00\x00" * 300 + b"N", "nesting beyond the limit"),
    (b"x\x00\x08\x02" + b"\x05\x00\x00\x00\x00\x00\x00\x00" * 2 + b"\x64\x00\x00\x00\x00\x00\x00\x00", "a size that does not match the shape"),
    (b"X\x00\x00\x00\x00\x00", "a segment that is not there"),
    (b"k\x01\x00\x00\x00\x00\x00\x00\x00", "a callable where none may be"),
    (b"h\x01\x00\x00\x00\x00\x00\x00\x00s\x01\x00\x00\x00A\x00", "a handle where none may be"),
    (b"W\x00\x00\x00\x00\x00\x00\x00\x00s\x01\x00\x00\x00os\x01\x00\x00\x00PN", "an object of no given module"),
    (b"NN", "bytes left over"),
    (b"r\x69\x01\x00\x00\x00\x00\x00\x00\x00\x69\x00\x00\x00\x00\x00\x00\x00\x00", "a Fraction over 0"),
])
def test_malformed_frames_raise_wire_error(body, why):
    with pytest.raises(wire.WireError):
        wire.loads(_frame(body))


def test_random_corruption_only_ever_raises_wire_error():
    value = {"t": torch.randn(3, 4), "big": torch.arange(20_000), "n": [1, 2 ** 70, "s", (1.5, None)],
             "g": torch.Generator().manual_seed(1), "f": Fraction(2, 3)}
    frame = wire.dumps(value)
    rng = random.Random(0)
    for _ in range(400):
        bad = bytearray(frame)
        for _ in range(rng.randint(1, 4)):
            bad[rng.randrange(len(bad))] = rng.randrange(256)
        cut = bad[:rng.randrange(len(bad))] if rng.random() < 0.2 else bad
        try:
            wire.loads(bytes(cut))
        except wire.WireError:
            pass


def test_oversized_frames_are_refused_before_reading():
    header = wire._FRAME.pack((1 << 30) + 1, 0)
    with pytest.raises(wire.WireError):
        wire.loads(header)


def _unbounded(value) -> bytes:
    """A frame that only a sender with lifted limits makes (a hostile worker)."""
    lifted = wire.Limits(max_int_digits=10 ** 9, max_items=10 ** 9)
    return b"".join(bytes(p) for p in wire.Encoder(lifted).message(value))


def _unreduced(num: int, den: int) -> Fraction:
    f = Fraction.__new__(Fraction)
    f._numerator, f._denominator = num, den
    return f


def test_what_a_reply_costs_to_read_is_bounded():
    """Ints by digits (two 1 MiB ints made a Fraction whose gcd took 103 s), containers by their count of
    values (10M None took 5 s a reply), each refused from its length before anything is built, with a clear note."""
    rng = random.Random(0)
    fraction = _unbounded(_unreduced(rng.getrandbits(8 << 20) | 1, rng.getrandbits(8 << 20) | 1))
    long_list = _unbounded([None] * 1_000_000)
    many_lists = _unbounded([[None] * 1000] * 300)
    t0 = time.perf_counter()
    with pytest.raises(wire.WireLimit, match=r"^an int of about 2,52\d,\d{3} digits; the grader accepts at most 10,000$"):
        wire.loads(fraction)
    with pytest.raises(wire.WireLimit, match=r"^a list, tuple or set of 1,000,000 items; the grader accepts at most "
                                             r"250,000 values in one message$"):
        wire.loads(long_list)
    with pytest.raises(wire.WireLimit, match=r"^more than 250,000 values"):  # many small containers add up
        wire.loads(many_lists)
    assert time.perf_counter() - t0 < 2
    # the honest side refuses to send them, with the same note
    with pytest.raises(wire.WireLimit, match="an int of about"):
        wire.dumps(10 ** 20_000)
    with pytest.raises(wire.WireLimit, match="250,000 values"):
        wire.dumps([None] * 250_001)
    # at the limits: a Fraction of two 10,000-digit ints, Q29's largest values, many values
    at = Fraction(rng.getrandbits(33_000) | 1, rng.getrandbits(33_000) | 1)
    t0 = time.perf_counter()
    assert wire.loads(wire.dumps([at, 10 ** 4000, [None] * 200_000]))[0] == at
    assert time.perf_counter() - t0 < 5


def test_nested_sets_are_checked_once_per_level():
    """Whether a set item is hashable plain data is worked out once per frozenset, not per level above it."""
    value: frozenset = frozenset(range(100_000))
    for i in range(150):
        value = frozenset({value, i})
    frame = wire.dumps(value)
    t0 = time.perf_counter()
    assert wire.loads(frame) == value
    assert time.perf_counter() - t0 < 5  # 150 levels x 100k items when each level re-checked its whole subtree


def test_decoding_stops_at_its_deadline():
    body = wire.dumps([None] * 5000)[wire._FRAME.size:]
    with pytest.raises(wire.WireLate, match="not finished by the deadline"):
        wire.Decoder(body, deadline=time.monotonic() - 1).decode()
    assert wire.Decoder(body, deadline=time.monotonic() + 60).decode() == [None] * 5000


# --- 2. the proxy ---------------------------------------------------------------------------------

PROBE = '''
import builtins, ctypes, dataclasses, os, time
import torch

CONSTANT = 42


def echo(*args, **kwargs):
    return args, kwargs


def add_one_in_place(x):
    x.add_(1)


def add_zero_in_place(x):
    x.add_(0)  # changes no value
    return x.sum()


def nested(n):
    out = []
    for _ in range(n):
        out = [out]
    return out


def append_99(items, table):
    items.append(99)
    table["new"] = [1, 2]


def draw(g, n):
    return torch.rand(n, generator=g)


def apply(fn, *args, **kwargs):
    return fn(*args, **kwargs)


def apply_many(fn, n):
    return [fn(i) for i in range(n)]


def swallow(fn):
    try:
        fn()
    except Exception as e:
        return "caught"
    return "nothing raised"


def raise_(kind, message):
    raise getattr(builtins, kind)(message)


class Custom(Exception):
    pass


def raise_custom():
    raise Custom("my own error")


def not_implemented():
    raise NotImplementedError


class Counter:
    def __init__(self, start):
        self.n = start

    def inc(self, k=1):
        self.n += k
        return self.n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return 2 * i


def read_counter(c):
    return c.n


class Liar:
    def __eq__(self, other):
        return True


def liar():
    return Liar()


class LyingTensor(torch.Tensor):
    def __eq__(self, other):
        return torch.ones(self.shape, dtype=torch.bool)


def lying_tensor():
    return torch.zeros(3).as_subclass(LyingTensor)


def sleep(seconds):
    time.sleep(seconds)
    return "woke"


def exit_(code):
    os._exit(code)


def segfault():
    ctypes.string_at(0)


def allocate(nbytes):
    x = torch.ones(nbytes, dtype=torch.uint8)
    return int(x.sum())


def what_is_here():
    return sorted(os.listdir(".")), sorted(os.listdir(os.path.dirname(__file__)))


def ids(n):
    return torch.arange(n)


def numbers():
    return 3, 2.5, True, None, "s", b"b", complex(1, 2), 10 ** 30
'''


@pytest.fixture(scope="module")
def probe_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("probe")
    (root / "q21").mkdir()
    (root / "q21" / "causal_mask.py").write_text(textwrap.dedent(PROBE), encoding="utf-8")
    (root / "q21" / "conftest.py").write_text("raise SystemExit('never copied')\n", encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def provider(probe_root):
    p = WorkerProvider(probe_root, call_timeout=20)
    yield p
    p.close()


@pytest.fixture(scope="module")
def sub(provider):
    return provider.get("q21")


def test_interface_like_module_view(sub, probe_root):
    assert sub._question.qid == "q21"
    assert sub._path == probe_root / "q21" / "causal_mask.py"
    assert sub._label.endswith("q21/causal_mask.py")
    assert sub.CONSTANT == 42
    with pytest.raises(SubmissionError, match=r"defines no `nope`"):
        sub.nope


def test_plain_data_crosses_both_ways(sub):
    args = (1, 2 ** 80, -0.5, "x", b"y", Fraction(1, 3), [1, (2, 3)], {"a": {"b": None}}, torch.float32)
    assert sub.echo(*args, k=(1, 2)) == (args, {"k": (1, 2)})
    assert sub.numbers() == (3, 2.5, True, None, "s", b"b", complex(1, 2), 10 ** 30)
    x = torch.randn(3, 4, dtype=torch.float64)
    (back,), _ = sub.echo(x)
    assert torch.equal(back, x) and back.dtype == torch.float64 and back is not x


def test_callbacks_many_nested_and_raising(sub):
    assert sub.apply(lambda a, b=0: a * 10 + b, 4, b=2) == 42
    assert sub.apply_many(lambda i: i * i, 300) == [i * i for i in range(300)]
    # a callback that calls into the submission again
    assert sub.apply(lambda: sub.echo("inner")) == (("inner",), {})
    failure = CheckFailure("the grader's own check failed")

    def check():
        raise failure
    with pytest.raises(CheckFailure) as info:
        sub.apply(check)
    assert info.value is failure  # the test sees its own exception object
    with pytest.raises(ValueError, match="from the grader"):
        sub.apply(lambda: (_ for _ in ()).throw(ValueError("from the grader")))
    assert sub.swallow(check) == "caught"  # a submission may catch it, as it could in-process


def test_generators_advance_like_in_process(sub):
    g, h = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    for _ in range(3):
        assert torch.equal(sub.draw(g, 5), torch.rand(5, generator=h))
    assert torch.equal(g.get_state(), h.get_state())


def test_a_batch_of_calls_is_one_request_with_the_verdicts_of_single_calls(sub):
    """grader.checks.call_each: the calls of a statistical test in one request; results, generator
    state, callbacks, errors and in-place changes as if each call had been made alone (and as in-process)."""
    from grader.checks import call_each
    g, h = torch.Generator().manual_seed(11), torch.Generator().manual_seed(11)
    got = call_each(sub.draw, [((g, 3), {}) for _ in range(50)])
    assert all(torch.equal(a, torch.rand(3, generator=h)) for a in got)  # one generator, advancing call by call
    assert torch.equal(g.get_state(), h.get_state())  # and its state comes back to the caller
    assert call_each(sub.apply, [((lambda i=i: i * i,), {}) for i in range(20)]) == [i * i for i in range(20)]
    assert call_each(sub.echo, []) == []
    with pytest.raises(ValueError, match="from the grader"):  # the first error is the batch's error
        call_each(sub.apply, [((lambda: 1,), {}), ((lambda: (_ for _ in ()).throw(ValueError("from the grader")),), {})])
    x = torch.zeros(2)
    with pytest.raises(SubmissionError, match="changed in place"):
        call_each(sub.add_one_in_place, [((torch.zeros(2),), {}), ((x,), {})])
    assert torch.equal(x, torch.zeros(2))
    assert type(sub.draw)._call_each  # the proxy batches; a plain function is called in a loop
    assert call_each(lambda a, b=0: a + b, [((1,), {"b": 2}), ((3,), {})]) == [3, 3]


def test_in_place_changes_fail_the_call_and_never_reach_the_caller(sub):
    x = torch.zeros(2, 3)
    with pytest.raises(SubmissionError, match="changed in place"):
        sub.add_one_in_place(x)
    assert torch.equal(x, torch.zeros(2, 3))  # what a test compares against cannot be rewritten
    items, table = [1, 2], {"old": 0}
    with pytest.raises(SubmissionError, match="changed in place"):
        sub.append_99(items, table)
    assert items == [1, 2] and table == {"old": 0}
    y = torch.zeros(3)
    sub.echo(y)
    assert torch.equal(y, torch.zeros(3))
    assert sub.add_zero_in_place(torch.ones(4)) == 4  # by value, as in-process: no change, no failure


def test_a_result_sent_back_at_the_limits_fails_the_call_not_the_grade(sub):
    """A reply may be 198 levels deep; sent back inside a request it is over the limit: the submission's
    data, so that call fails (a GraderFault would stop the whole grade)."""
    deep = sub.nested(198)
    with pytest.raises(SubmissionError, match=r"the arguments of echo are too large to send to the worker: data "
                                              r"nested more than 200 levels deep"):
        sub.echo(deep)
    with pytest.raises(SubmissionError, match=r"the reply of nested was too large: data nested more than 200"):
        sub.nested(199)


def test_handles(sub):
    c = sub.Counter(3)
    assert isinstance(c, RemoteObject) and type(c).__name__ == "Counter"
    assert c.inc() == 4 and c.inc(k=2) == 6 and c.n == 6
    assert len(c) == 6 and c[5] == 10
    assert sub.read_counter(c) == 6  # a handle goes back as the object itself
    c.n = 10
    assert c.n == 10
    (same,), _ = sub.echo(c)
    assert same is c
    assert c == c and c != sub.Counter(10) and hash(c) == hash(c)
    with pytest.raises(SubmissionError):
        c.no_such_attribute


def test_lying_results_cannot_lie_here(sub):
    liar = sub.liar()
    assert liar != 1 and not (liar == object()) and liar == liar
    t = sub.lying_tensor()
    assert type(t) is torch.Tensor and not bool((t == torch.ones(3)).all())


def test_errors_cross_as_the_same_builtin(sub):
    for kind in ("ValueError", "TypeError", "IndexError", "ZeroDivisionError", "OverflowError", "RuntimeError"):
        with pytest.raises(getattr(__builtins__, kind, None) or eval(kind), match="t_q must be >= 0"):
            sub.raise_(kind, "t_q must be >= 0")
    with pytest.raises(KeyError) as info:
        sub.raise_("KeyError", "missing key")
    assert info.value.args == ("missing key",)
    with pytest.raises(SubmissionError, match=r"raise_custom raised Custom: my own error \(q21/causal_mask\.py line \d+\)"):
        sub.raise_custom()
    with pytest.raises(SubmissionError, match=r"raise_ raised AssertionError: no"):
        sub.raise_("AssertionError", "no")


def test_not_implemented_says_where(sub, probe_root):
    with pytest.raises(NotImplementedError) as info:
        sub.not_implemented()
    line = next(i for i, text in enumerate((probe_root / "q21" / "causal_mask.py").read_text().splitlines(), 1)
                if "raise NotImplementedError" in text)
    assert info.value.where == ("not_implemented", "q21/causal_mask.py", line)


def test_only_the_question_file_is_in_the_worker(sub):
    here, qdir = sub.what_is_here()
    assert qdir == ["causal_mask.py"]  # no conftest.py, nothing else of the submission
    assert here == ["q21"]


def test_measure_reports_peak_memory_of_the_call(sub):
    n, stats = sub._measure("allocate", 64 << 20)  # alone in a fresh worker; its peak read from this side
    assert n == 64 << 20
    assert stats["seconds"] > 0
    assert stats["peak_bytes"] is not None and stats["peak_bytes"] >= 60 << 20, stats  # (its sum adds more)
    with pytest.raises(Exception, match="allocate"):  # a hard address-space limit, far below the 4 GiB default
        sub._measure("allocate", 512 << 20, _limit_bytes=32 << 20)
    assert sub.allocate(1 << 20) == 1 << 20  # and then an ordinary worker again


def test_crashes_and_timeouts_are_reported_and_the_next_call_gets_a_fresh_worker(probe_root):
    p = WorkerProvider(probe_root, call_timeout=2)
    try:
        s = p.get("q21")
        c = s.Counter(1)
        with pytest.raises(SubmissionError, match=r"sleep did not finish within 2 s and was stopped"):
            s.sleep(30)
        assert s.sleep(0) == "woke"
        with pytest.raises(SubmissionError, match=r"belonged to a worker that was stopped"):
            c.inc()
        with pytest.raises(SubmissionError, match=r"exit_ crashed the worker process: .*status 3"):
            s.exit_(3)
        with pytest.raises(SubmissionError, match=r"segfault crashed the worker process: segmentation fault"):
            s.segfault()
        assert s.echo(1) == ((1,), {})
        with pytest.raises(SubmissionError, match=r"sleep did not finish"):
            s.sleep(30)
        with pytest.raises(SubmissionError, match=r"sleep was not run: it already timed out 2 times"):
            s.sleep(0)
        assert s.echo(2) == ((2,), {})  # the question's other functions still run
    finally:
        p.close()


def test_memory_limit(probe_root):
    p = WorkerProvider(probe_root, memory_limit=1 << 30)
    try:
        s = p.get("q21")
        with pytest.raises((RuntimeError, SubmissionError), match=r"(?i)memory|allocate"):
            s.allocate(3 << 30)
        assert s.allocate(1 << 20) == 1 << 20
    finally:
        p.close()


@pytest.mark.skipif(not (PROJECT_ROOT / "exercises" / "q31" / "model_config.py").exists(), reason="no q31")
def test_dataclasses_of_given_modules_are_rebuilt_from_the_trusted_copy(tmp_path):
    (tmp_path / "q31").mkdir()
    (tmp_path / "q31" / "param_count.py").write_text(textwrap.dedent('''
        import dataclasses
        from model_config import ModelConfig

        def roundtrip(cfg):
            return cfg, type(cfg).__module__, dataclasses.is_dataclass(cfg)

        def double_width(cfg):
            return dataclasses.replace(cfg, d_model=2 * cfg.d_model)

        @dataclasses.dataclass
        class Mine:
            a: int

        def mine():
            return Mine(3)
    '''), encoding="utf-8")
    ModelConfig = given_module("q31", "model_config").ModelConfig
    cfg = next(getattr(ModelConfig, n)() for n in dir(ModelConfig) if n.startswith("gpt2"))
    p = WorkerProvider(tmp_path)
    try:
        s = p.get("q31")
        back, module, is_dc = s.roundtrip(cfg)
        assert type(back) is ModelConfig and back == cfg and module == "model_config" and is_dc
        wide = s.double_width(cfg)
        assert type(wide) is ModelConfig and wide.d_model == 2 * cfg.d_model
        assert s.mine() == {"a": 3}  # a dataclass of the submission arrives as its fields
    finally:
        p.close()


@pytest.mark.skipif(not (PROJECT_ROOT / "exercises" / "q24" / "tiny_gpt.py").exists(), reason="no q24")
def test_objects_of_given_modules_cross_with_to_wire(tmp_path):
    (tmp_path / "q24").mkdir()
    (tmp_path / "q24" / "kv_generate.py").write_text(textwrap.dedent('''
        from tiny_gpt import TinyGPT

        def dims(model):
            return type(model).__module__, model.d_model, model.n_layers, float(model.w_head.sum())

        def same(a, b):
            return a is b

        def make(seed):
            return TinyGPT(n_layers=1, d_model=32, n_heads=2, seed=seed)
    '''), encoding="utf-8")
    TinyGPT = given_module("q24", "tiny_gpt").TinyGPT
    model = TinyGPT(n_layers=2, d_model=64, n_heads=4, seed=3)
    p = WorkerProvider(tmp_path)
    try:
        s = p.get("q24")
        assert s.dims(model) == ("tiny_gpt", 64, 2, float(model.w_head.sum()))
        assert s.same(model, model) is True  # one object here, one object there
        other = TinyGPT(n_layers=2, d_model=64, n_heads=4, seed=3)
        assert s.same(model, other) is False
        made = s.make(5)
        assert type(made) is TinyGPT and made.seed == 5 and made.d_model == 32
    finally:
        p.close()


def test_a_link_instead_of_a_file_is_refused(tmp_path):
    (tmp_path / "q21").mkdir()
    (tmp_path / "q21" / "causal_mask.py").symlink_to(PROJECT_ROOT / "solutions" / "q21" / "causal_mask.py")
    p = WorkerProvider(tmp_path)
    try:
        with pytest.raises(SubmissionError, match="regular file"):
            p.get("q21").causal_mask(3)
    finally:
        p.close()


def test_isolation_is_described(provider):
    text = provider.isolation
    assert "rlimits" in text and "wall-clock" in text
    if os.geteuid() == 0 and shutil.which("bwrap") and "LLMGRADE_ISOLATION" not in os.environ:
        assert text.startswith("FULL isolation: bubblewrap") and "seccomp allowlist" in text
        assert "unique unprivileged uid" in text and provider.zygote.level_name == "full"


def test_overheads(sub, provider):
    """Per-call overhead (printed): a small call, and an 8 MB float32 tensor each way. Bounds are loose on
    purpose (a shared 2-core machine); the numbers go to the report."""
    t0 = time.perf_counter()
    p = WorkerProvider(PROJECT_ROOT / "solutions")
    try:
        s = p.get("q21")
        s.causal_mask(2)
        startup = time.perf_counter() - t0
        small = []
        for _ in range(200):
            t = time.perf_counter()
            s.causal_mask(3)
            small.append(time.perf_counter() - t)
        x = torch.randn(2, 1024, 1024)
        mask = torch.ones(1024, 1024, dtype=torch.bool)
        big, local = [], []
        for _ in range(10):
            t = time.perf_counter()
            s.masked_scores(x, mask)
            big.append(time.perf_counter() - t)
            t = time.perf_counter()
            x.masked_fill(~mask, float("-inf"))
            local.append(time.perf_counter() - t)
    finally:
        p.close()
    report = (f"start-up (zygote with torch, first worker, first call) {startup:.2f} s; small call median "
              f"{statistics.median(small) * 1e6:.0f} us; masked_scores on 8 MB median {statistics.median(big) * 1e3:.1f} ms "
              f"against {statistics.median(local) * 1e3:.1f} ms in-process")
    print("\n" + report)
    assert statistics.median(small) < 0.05, report
    assert statistics.median(big) < 2.0, report


# --- 3. verdicts through the boundary -------------------------------------------------------------

@pytest.fixture(scope="session")
def hidden_isolated_on_references(tmp_path_factory) -> dict:
    xml = tmp_path_factory.mktemp("isolated") / "solutions.xml"
    return by_question(run_pytest([f"tests/{q}" for q in QUESTIONS], xml, "--impl", "solutions", "--isolate"))


@pytest.fixture(scope="session")
def hidden_isolated_on_stubs(tmp_path_factory) -> dict:
    xml = tmp_path_factory.mktemp("isolated") / "stubs.xml"
    return by_question(run_pytest([f"tests/{q}" for q in QUESTIONS], xml, "--impl", "exercises", "--isolate"))


@pytest.mark.timeout(3600)
@pytest.mark.parametrize("qid", QUESTIONS)
def test_references_pass_every_hidden_test_through_the_boundary(hidden_isolated_on_references, qid):
    outcomes = hidden_isolated_on_references.get(qid, [])
    assert outcomes, f"{qid}: no hidden tests ran"
    bad = [f"{o.nodeid}: {o.status} {o.message.splitlines()[0] if o.message else ''}"[:300] for o in outcomes
           if o.status not in ("passed", "skipped")]
    assert not bad, f"{qid}: the reference fails through --isolate:\n  " + "\n  ".join(bad[:20])


@pytest.mark.timeout(3600)
@pytest.mark.parametrize("qid", QUESTIONS)
def test_stubs_fail_every_hidden_test_through_the_boundary(hidden_isolated_on_stubs, qid):
    outcomes = hidden_isolated_on_stubs.get(qid, [])
    assert outcomes, f"{qid}: no hidden tests ran"
    bad = [o.nodeid for o in outcomes if o.status == "passed"]
    assert not bad, f"{qid}: stub passes through --isolate: {bad[:10]}"
    todo = [o for o in outcomes if o.status != "skipped"
            and not re.search(r"is not implemented yet: q\d\d/\w+\.py:\d+", o.message or "")]
    assert not todo, f"{qid}: a stub's failure does not say 'not implemented yet: file:line':\n  " + \
        "\n  ".join(f"{o.nodeid}: {(o.message or '')[:200]}" for o in todo[:10])


# Mutants whose detection depends on what crosses the boundary: an in-place edit of an argument, the
# speed of a call timed from this side, the peak memory measured in the worker. (qid, name, tests, note)
BOUNDARY_MUTANTS = [
    ("q28", "edits_in_place", "edit_is_exact", r"changed in place"),
    ("q24", "slow_cache_recomputes_prefix", "cache_is_faster", r"faster"),
    ("q36", "fa_full_matrix_then_mask", "memory_far_below", r"resident memory|MiB"),
    ("q36", "fa_computes_every_tile", "skips_tiles", r"faster|only"),
    ("q20", None, "", ""),  # every q20 mutant: the model is a callback
    ("q21", None, "", ""),  # every q21 mutant
]


def _boundary_mutants():
    known = {(m.qid, m.name): m for m in catalog()}
    out = []
    for qid, name, tests, note in BOUNDARY_MUTANTS:
        if qid not in QUESTIONS:
            continue
        if name is None:
            out += [(m, "", "") for m in catalog([qid])]
        elif (qid, name) in known:
            out.append((known[(qid, name)], tests, note))
    return out


@pytest.mark.timeout(900)
@pytest.mark.parametrize("mutant,tests,note", _boundary_mutants(), ids=lambda v: getattr(v, "label", None) or "")
def test_boundary_sensitive_mutants_are_still_caught(mutant, tests, note, tmp_path):
    impl = build(mutant, tmp_path)
    extra = ("--isolate", "-p", "no:randomly") + (("-k", tests) if tests else ("-x",))
    outcomes = run_suite(impl, mutant.qid, tmp_path / "out.xml", extra)
    assert outcomes, f"{mutant.label}: no results"
    failed = [o for o in outcomes if o.status in ("failed", "error")]
    assert failed, f"{mutant.label} survives the isolated suite (selection {tests!r})"
    if note:
        assert any(re.search(note, o.message or "") for o in failed), \
            f"{mutant.label}: caught, but not for the expected reason: {failed[0].message[:300]}"


# --- the sandbox starts before the grading process imports torch ------------------------------------

def test_launching_the_sandbox_needs_no_torch():
    """grader.sandbox.launch (and the CLI's isolation check) import no torch, so ``grading.run_hidden`` can start
    the zygote before this process spends ~2 s importing torch and pytest."""
    code = ("import sys; import grader.sandbox.launch, grader.grading, grader.cli; "
            "print('torch' in sys.modules)")
    import subprocess
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=120)
    assert out.stdout.strip() == "False", out.stdout + out.stderr


def test_the_provider_adopts_the_early_zygote_and_an_unadopted_one_is_closed():
    from grader.sandbox import launch
    launch.start_early()
    early = launch._early
    assert early is not None and not early.closed
    provider = WorkerProvider(PROJECT_ROOT / "solutions")
    try:
        assert provider.zygote is early and launch._early is None
        assert provider.get("q21").causal_mask(2).tolist() == [[True, False], [True, True]]  # it serves calls
    finally:
        provider.close()
    launch.start_early()
    unadopted = launch._early
    launch.discard_early()
    assert unadopted.closed and launch._early is None
