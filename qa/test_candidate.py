"""The candidate's loop as a newcomer meets it: `llmgrade progress` on a half-solved handout, the
one-message failures of typical mistakes (printed by pytest on small copies of a question's folder),
hints in both languages, the handout's settings, and `llmgrade watch`.

Each pytest run here is one subprocess over several small folders (a few seconds); no virtualenvs.
"""
from __future__ import annotations

import ast
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import types
import tomllib
from pathlib import Path

import pytest
import torch

from support import QUESTIONS
from grader import candidate, outcomes
from grader.checks import CheckFailure, assert_close, assert_equal, assert_number, compare_speed
from grader.questions import PROJECT_ROOT, get
from grader.release import HANDOUT_TEST_TIMEOUT_S, make_release

CJK = re.compile(r"[\u4e00-\u9fff]")


# --- building wrong answers ----------------------------------------------------------------------

def reference(qid: str) -> str:
    return (PROJECT_ROOT / "solutions" / qid / get(qid).filename).read_text(encoding="utf-8")


def mutant(qid: str, name: str) -> str:
    """The reference with one of the question's mutants applied."""
    spec = next(m for m in tomllib.loads((PROJECT_ROOT / "mutants" / f"{qid}.toml").read_text(encoding="utf-8"))
                ["mutant"] if m["name"] == name)
    text = reference(qid)
    assert text.count(spec["old"]) == 1, f"{qid} mutant {name} no longer applies"
    return text.replace(spec["old"], spec["new"])


def with_body(text: str, function: str, body: str) -> str:
    """``text`` with the body of top-level ``function`` replaced (its docstring dropped) by ``body``."""
    node = next(n for n in ast.parse(text).body if isinstance(n, ast.FunctionDef) and n.name == function)
    lines = text.splitlines()
    start = node.body[0].lineno - 1
    new = ["    " + ln for ln in body.strip("\n").splitlines()]
    return "\n".join(lines[:start] + new + lines[node.end_lineno:]) + "\n"


def question_copy(root: Path, qid: str, module_text: str) -> Path:
    """root/qNN: the question's self-check and given modules, with ``module_text`` as the candidate's module."""
    src = PROJECT_ROOT / "exercises" / qid
    dest = root / qid
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("__pycache__", "README.md"))
    (dest / get(qid).filename).write_text(module_text, encoding="utf-8")
    return dest


# The mistakes a candidate makes, each a copy of one question's folder (the reference with one bug).
def mistakes() -> dict[str, tuple[str, str]]:
    q21 = reference("q21")
    return {
        "syntax": ("q21", q21.replace("return j <= past_len + i", "return (j <= past_len + i")),
        "shape": ("q21", q21.replace("return j <= past_len + i", "return (j <= past_len + i)[None]")),
        "strict": ("q21", mutant("q21", "strict_triangle")),
        "missing": ("q21", q21.replace("def masked_scores(", "def masked_score(")),
        "crash": ("q21", with_body(q21, "masked_scores", "return scores.masked_fill(mask, float('-inf'), 3)")),
        "no_return": ("q21", with_body(q21, "masked_scores", "scores.masked_fill(~mask, float('-inf'))")),
        "started": ("q21", with_body(q21, "masked_scores", "raise NotImplementedError")),
        "dtype": ("q26", with_body(reference("q26"), "rms_norm",
                                   "return (x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps) * weight).float()")),
        "slightly_off": ("q26", with_body(reference("q26"), "rms_norm",
                                          "return x / (torch.sqrt((x * x).mean(-1, keepdim=True)) + eps) * weight")),
        "endless": ("q20", with_body(reference("q20"), "generate",
                                     "n = 0\nwhile n < max_new_tokens:\n    step_fn(list(prompt))\nreturn [], 'length'")),
    }


@pytest.fixture(scope="module")
def mistake_runs(tmp_path_factory) -> dict[str, dict]:
    """Every mistake's self-check, in one pytest run: {mistake: {"messages": {test: message}, "stdout": ...}}."""
    base = tmp_path_factory.mktemp("mistakes")
    targets = {}
    for name, (qid, text) in mistakes().items():
        targets[name] = question_copy(base / name, qid, text)
    results = base / "out.json"
    proc = subprocess.run([sys.executable, "-m", "pytest", *map(str, targets.values()), "-q", "-p", "no:cacheprovider",
                           "-p", "no:randomly", "-p", "grader.plugin", "--import-mode=importlib", "-m", "not timing",
                           "-o", "timeout=3", "--results", str(results)],
                          cwd=base, capture_output=True, text=True, timeout=600)
    assert results.exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    out: dict[str, dict] = {name: {"messages": {}, "status": {}, "outcomes": []} for name in targets}
    for o in outcomes.read(results):
        name, test = o.nodeid.split("/")[0], o.nodeid.split("::")[-1]
        out[name]["messages"][test] = o.message
        out[name]["status"][test] = o.status
        out[name]["outcomes"].append(o)
    for name in out:
        out[name]["stdout"] = proc.stdout
    return out


def failures(run: dict) -> dict[str, str]:
    return {t: m for t, m in run["messages"].items() if run["status"][t] in ("failed", "error")}


def test_no_traceback_walls(mistake_runs):
    text = next(iter(mistake_runs.values()))["stdout"]
    assert "Traceback" not in text and "\nE   " not in text and "_ _ _ _" not in text, text[:3000]


def test_syntax_error_names_the_file_and_line(mistake_runs):
    msgs = failures(mistake_runs["syntax"])
    assert msgs and all(re.search(r"causal_mask\.py: syntax error at line \d+", m) for m in msgs.values()), msgs


def test_wrong_shape_names_the_call_and_both_shapes(mistake_runs):
    msg = failures(mistake_runs["shape"])["test_square_mask_by_hand"]
    assert msg.startswith("causal_mask(3) has shape (1, 3, 3), expected (3, 3)"), msg


def test_wrong_mask_is_printed_beside_the_expected_one(mistake_runs):
    msg = failures(mistake_runs["strict"])["test_square_mask_by_hand"]
    lines = msg.splitlines()
    assert lines[0].startswith("causal_mask(3) differs at 3 of 9 positions, first at index (0, 0): got False, "
                               "expected True"), msg
    assert lines[1].split() == ["got", "expected", "differs"], msg
    assert [ln.split() for ln in lines[2:5]] == [[".", ".", ".", "1", ".", ".", "x", ".", "."],
                                                 ["1", ".", ".", "1", "1", ".", ".", "x", "."],
                                                 ["1", "1", ".", "1", "1", "1", ".", ".", "x"]], msg
    assert "(1 = True, . = False)" in msg


def test_missing_function_is_named(mistake_runs):
    msgs = failures(mistake_runs["missing"])
    assert re.search(r"causal_mask\.py defines no `masked_scores`( \(did you mean `\w+`\?\))?$",
                     msgs["test_masked_scores_fills_minus_inf"]), msgs["test_masked_scores_fills_minus_inf"]
    assert "test_square_mask_by_hand" not in msgs  # causal_mask itself still passes


def test_exception_in_the_candidates_code_says_where_and_with_what(mistake_runs):
    msg = failures(mistake_runs["crash"])["test_masked_scores_fills_minus_inf"]
    lines = msg.splitlines()
    assert re.match(r"masked_scores raised TypeError: .* \(.*causal_mask\.py line \d+\)$", lines[0]), msg
    assert re.match(r"  .*causal_mask\.py:\d+: return scores\.masked_fill\(mask, float\('-inf'\), 3\)$", lines[1]), msg
    assert lines[2] == ("  masked_scores was called with scores=tensor([[0, 1], [2, 3]], float32), "
                        "mask=tensor([[True, False], [True, True]], bool)"), msg
    assert "--tb=long" in lines[3], msg


def test_missing_return_is_suggested(mistake_runs):
    msgs = failures(mistake_runs["no_return"])
    msg = msgs["test_masked_scores_fills_minus_inf"]
    assert msg == "masked_scores(scores, mask) should be a torch.Tensor, got None (is a `return` missing?)", msg
    # a check that used the None and crashed says so, in a few lines rather than a traceback
    lines = msgs["test_no_future_leak"].splitlines()
    assert lines[0].startswith("TypeError inside the check (not in your code): "), lines
    assert re.match(r"  at \S*grader/checks/q21\.py:\d+ in causal_attention: ", lines[1]), lines
    assert "missing `return`" in lines[2] and "--tb=long" in lines[2], lines


def test_wrong_dtype_names_both_dtypes_and_the_usual_cause(mistake_runs):
    msgs = failures(mistake_runs["dtype"])
    msg = next(m for m in msgs.values() if "has dtype" in m)
    assert re.search(r"rms_norm\(.*\) has dtype torch\.float32, expected torch\.float64 \(outputs keep the "
                     r"input's dtype\)", msg), msg
    assert "hint: compute in the input's dtype" in msg and "dtype=" in msg, msg


def test_numeric_mismatch_gives_error_position_values_and_a_guess(mistake_runs):
    msgs = failures(mistake_runs["slightly_off"])
    msg = msgs["test_invariances"]  # float64: the error is at the 1e-5 level
    assert re.search(r" is off: max abs error [\d.e+-]+ at index \(\d+(, \d+)*,?\): got -?[\d.e+-]+, expected "
                     r"-?[\d.e+-]+ \(\d+ of \d+ values off; allowed [\d.e+-]+ \+ [\d.e+-]+·\|expected\|\)", msg), msg
    assert "looks like: the error is tiny" in msg and "eps" in msg, msg
    assert re.search(r"\n  values \[.*\]:\n    got: .*\n    expected: ", msg), msg


def test_endless_loop_is_stopped_with_the_line_and_the_rest_skipped(mistake_runs):
    run = mistake_runs["endless"]
    msgs = failures(run)
    assert len(msgs) == 1, msgs
    msg = next(iter(msgs.values()))
    assert re.match(r"generate did not finish within the test's time limit \(3\.0 s\) and was stopped at "
                    r".*stopping\.py line \d+: ", msg), msg
    assert "a loop that never ends" in msg and "skipped until this one finishes" in msg, msg
    assert sum(s == "skipped" for s in run["status"].values()) == len(run["status"]) - 1


def test_unfinished_functions_are_named(mistake_runs):
    run = mistake_runs["started"]
    msgs = failures(run)
    assert msgs and all(m.startswith("masked_scores is not implemented yet: ") for m in msgs.values()), msgs
    assert {o.kind for o in run["outcomes"] if o.status != "passed"} == {"not_implemented"}  # set structurally
    assert {o.function for o in run["outcomes"] if o.status != "passed"} == {"masked_scores"}
    assert candidate.classify(run["outcomes"]) == "started"


# --- the messages' finer points, straight from the check library ----------------------------------

def message(fn) -> str:
    with pytest.raises(CheckFailure) as e:
        fn()
    return str(e.value)


def test_looks_like_a_constant_factor_a_shift_a_transpose_or_float32():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 4, 8, generator=g, dtype=torch.float64)
    assert "looks like: got = expected × 2.82843 everywhere (√8)" in message(lambda: assert_close(x * 8 ** 0.5, x, "out"))
    assert "looks like: got = expected × 0.353553 everywhere (1/√8)" in message(lambda: assert_close(x / 8 ** 0.5, x, "o"))
    assert "looks like: got = -expected everywhere" in message(lambda: assert_close(-x, x, "out"))
    assert "looks like: got = expected + 0.5 everywhere" in message(lambda: assert_close(x + 0.5, x, "out"))
    sq = torch.randn(3, 5, 5, generator=g, dtype=torch.float64)
    assert "last two dims swapped" in message(lambda: assert_close(sq.transpose(-1, -2), sq, "weights"))
    assert "exactly a float32 number" in message(lambda: assert_close(x.float().double(), x, "out"))
    y = x.clone()
    y[1] += 0.25
    assert "right for [0, ...] but wrong for 1 of the other 1" in message(lambda: assert_close(y, x, "out"))


def test_nan_is_explained():
    w = torch.softmax(torch.randn(3, 3, dtype=torch.float64), -1)
    bad = w.clone()
    bad[0] = float("nan")
    msg = message(lambda: assert_close(bad, w, "weights"))
    assert msg.startswith("weights has NaN where a number was expected at 3 of 9 positions, first at index (0, 0)")
    assert "softmax over a row that is all -inf" in msg


def test_plain_values_say_where_they_differ():
    assert message(lambda: assert_equal([5, 6, 7, 8], [5, 6, 9, 8], "tokens")) == (
        "tokens: got [5, 6, 7, 8], expected [5, 6, 9, 8]; first difference at position 2: got 7, expected 9")
    assert "(a tuple, expected a list)" in message(lambda: assert_equal((1, 2), [1, 2], "tokens"))
    assert message(lambda: assert_number(2.8e10, 1.4e10, "flops")).endswith("got/expected = 2)")
    assert "= 1/√8 exactly" in message(lambda: assert_number(8 ** -0.5, 1.0, "std"))
    assert "got None (is a `return` missing?)" in message(lambda: assert_number(None, 1.0, "std"))


def test_timing_failure_gives_the_ratio_and_the_usual_cause():
    from grader.measuring import in_process_timing

    def spin(x):  # CPU time is what counts (a sleep costs none)
        t = time.thread_time()
        while time.thread_time() - t < 0.004:
            pass
        return x

    sub = types.SimpleNamespace(_timing=in_process_timing)
    msg = message(lambda: compare_speed(sub, spin, spin, lambda: (1,), lambda inp, got, want: None, min_ratio=5.0,
                                        what="cached decoding against uncached", cause="the cache is rebuilt",
                                        repeats=3))
    assert re.match(r"cached decoding against uncached is only [\d.]+x faster \(the trusted slow way \d+ ms, yours "
                    r"\d+ ms of CPU time, best of 3 rounds on fresh inputs\); it must be at least 5x faster\n"
                    r"  hint: usually the cache is rebuilt$", msg), msg


def test_a_near_miss_gets_more_rounds_and_a_clear_one_does_not():
    """A burst of load over the first rounds cannot fail a fast submission: a ratio short of the threshold
    but within ``NEAR_MISS`` of it after ``repeats`` rounds is measured on more rounds (up to 3 x ``repeats``),
    each side's best of all; a clear miss or a clear pass is decided after ``repeats`` rounds."""
    from grader.checks.timing import NEAR_MISS, race
    from grader.measuring import in_process_timing

    def spin(seconds):
        t = time.thread_time()
        while time.thread_time() - t < seconds:
            pass

    def check(inp, got, want):
        pass

    calls = []

    def bursty(x):  # as slow as the baseline in the warm-up and its first 3 timed rounds (a burst), then 4x faster
        calls.append(x)
        spin(0.008 if len(calls) <= 4 else 0.002)

    def baseline(x):
        spin(0.008)

    sub = types.SimpleNamespace(_timing=in_process_timing)
    assert NEAR_MISS * 1.3 < 1.0 < 1.3  # below, a ratio of about 1 is a near miss of 1.3
    r = race(sub, bursty, baseline, lambda: (1,), check, repeats=3, min_ratio=1.3)
    assert len(r.fast_s) == 4 and r.ratio > 1.3, r  # one more round was enough
    r = race(sub, baseline, baseline, lambda: (1,), check, repeats=3, min_ratio=1.3)
    assert len(r.fast_s) == 9 and r.ratio < 1.3, r  # a slow submission stops at 3 x repeats, still failing
    r = race(sub, lambda x: spin(0.016), baseline, lambda: (1,), check, repeats=3, min_ratio=1.3)
    assert len(r.fast_s) == 3 and r.ratio < NEAR_MISS * 1.3, r  # a clear miss costs no extra round
    r = race(sub, lambda x: spin(0.002), baseline, lambda: (1,), check, repeats=3, min_ratio=1.3)
    assert len(r.fast_s) == 3, r  # nor does a clear pass


# --- progress on a half-solved handout -----------------------------------------------------------

@pytest.fixture(scope="module")
def half_solved(tmp_path_factory) -> Path:
    """A handout with q20 and q21 solved, q22 wrong (no scaling), q26 half written, the rest untouched."""
    out = make_release(tmp_path_factory.mktemp("half") / "handout")
    ex = out / "exercises"
    for qid in ("q20", "q21"):
        (ex / qid / get(qid).filename).write_text(reference(qid), encoding="utf-8")
    (ex / "q22" / get("q22").filename).write_text(mutant("q22", "no_scaling"), encoding="utf-8")
    (ex / "q26" / get("q26").filename).write_text(with_body(reference("q26"), "rms_norm", "raise NotImplementedError"),
                                                  encoding="utf-8")
    return out


def test_progress_on_a_half_solved_handout(half_solved):
    proc = subprocess.run([sys.executable, "-m", "grader.cli", "progress"], cwd=half_solved, capture_output=True,
                          text=True, env=dict(os.environ, PYTHONPATH=str(half_solved)), timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    lines = out.splitlines()
    row = {q: next(ln for ln in lines if re.search(rf"^  [^0-9]*{q}  ", ln)) for q in QUESTIONS}
    assert re.match(r"Progress \[##-+\] 2/\d+ questions pass their self-checks \(\d+\.\ds\)$", lines[0]), out
    for q in ("q20", "q21"):
        assert "✔ passing" in row[q] and re.search(r" (\d+)/\1 +self-checks$", row[q]), out
    assert "✘ failing" in row["q22"], out
    after = lines[lines.index(row["q22"]) + 1]
    assert re.match(r"      test_\w+: .* is off: ", after), out  # the first failing check, named, one line
    assert "◐ started" in row["q26"], out
    assert lines[lines.index(row["q26"]) + 1] == "      still to write: rms_norm", out
    untouched = [q for q in QUESTIONS if q not in ("q20", "q21", "q22", "q26")]
    assert all("· not started" in row[q] and " 0/" in row[q] for q in untouched), out
    assert "\nNext: finish q22 (下一步) — `pytest exercises/q22`" in out, out
    assert "llmgrade hint q22" in out


def test_progress_next_is_the_first_untouched_question_when_nothing_is_broken(tmp_path):
    ex = tmp_path / "exercises"
    for qid in ("q21", "q26"):
        question_copy(ex, qid, reference(qid) if qid == "q21" else
                      (PROJECT_ROOT / "exercises" / qid / get(qid).filename).read_text(encoding="utf-8"))
    outcomes = candidate.self_check_outcomes(ex)
    by_q = {q: candidate.classify([o for o in outcomes if o.qid == q]) for q in ("q21", "q26")}
    assert by_q == {"q21": "passing", "q26": "todo"}
    assert candidate._next_step(get("q26"), "todo").startswith(
        "Next: q26 (下一题) — read exercises/q26/README.md, edit exercises/q26/norms.py, then `pytest exercises/q26`")


# --- hints, handout settings, watch -------------------------------------------------------------

@pytest.mark.parametrize("qid", QUESTIONS)
def test_hints_in_both_languages_through_the_cli(qid, capsys):
    assert candidate.hint(qid, 3, "en") == 0
    en = capsys.readouterr().out
    assert candidate.hint(qid, 3, "zh") == 0
    zh = capsys.readouterr().out
    for text in (en, zh):
        assert all(f"[{i}]" in text for i in (1, 2, 3)) and "(more" not in text, text
    assert CJK.search(zh) and len(CJK.findall(zh)) > len(CJK.findall(en)), zh
    assert en.splitlines()[0].startswith(qid)


def test_hint_for_an_unknown_question_lists_the_known_ones(capsys):
    assert candidate.hint("q99", 1, "both") == 2
    err = capsys.readouterr().err
    assert "no hints for 'q99'" in err and "q20" in err and "llmgrade hint q21" in err


def test_hint_accepts_a_bare_number_and_clamps_the_level(capsys):
    assert candidate.hint("21", 9, "en") == 0
    out = capsys.readouterr().out
    assert "[3]" in out and "(more" not in out


def test_handout_settings(tmp_path):
    out = make_release(tmp_path / "h")
    pyproject = tomllib.loads((out / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["tool"]["pytest"]["ini_options"]["timeout"] == HANDOUT_TEST_TIMEOUT_S <= 60
    packages = pyproject["tool"]["setuptools"]["packages"]
    assert all((out / p.replace(".", "/") / "__init__.py").is_file() for p in packages), packages  # pip install -e works
    assert not [d for d in pyproject["project"]["dependencies"] if "seccomp" in d]
    dev = [d.split(">")[0] for d in pyproject["project"]["optional-dependencies"]["dev"]]
    assert set(dev) <= {"nbconvert", "ipykernel"}, dev  # only what runs the handout's notebooks
    setup = (out / "scripts" / "setup.sh").read_text(encoding="utf-8")
    for grader_only in ("nbgrader", "copydetect", "dask", "bubblewrap", "hromium"):
        assert grader_only not in setup, grader_only
    readme = (out / "README.md").read_text(encoding="utf-8")
    for command in ("bash scripts/setup.sh", "source .venv/bin/activate", "llmgrade progress", "pytest exercises/",
                    "llmgrade hint", "llmgrade watch", "--tb=long"):
        assert command in readme, command


def test_watch_reruns_a_question_when_its_file_is_saved(tmp_path):
    ex = tmp_path / "exercises"
    question_copy(ex, "q21", mutant("q21", "strict_triangle"))
    proc = subprocess.Popen([sys.executable, "-m", "grader.cli", "watch", str(ex)], cwd=PROJECT_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    seen: list[str] = []

    def wait_for(pattern: str, deadline: float) -> str:
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            seen.append(line)
            if re.search(pattern, line):
                return line
        raise AssertionError(f"no line matching {pattern!r}; got:\n{''.join(seen)}")

    try:
        wait_for(r"^watching ", time.monotonic() + 60)
        time.sleep(1.2)  # a later mtime than the copy's
        (ex / "q21" / "causal_mask.py").write_text(reference("q21"), encoding="utf-8")
        wait_for(r"== \d\d:\d\d:\d\d q21 changed: pytest exercises/q21", time.monotonic() + 60)
        wait_for(r"^✔ q21: every self-check passes", time.monotonic() + 120)
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_no_pattern_claimed_where_there_is_none():
    g = torch.Generator().manual_seed(1)
    e = torch.randn(4, 6, generator=g, dtype=torch.float64)
    noisy = e + 1e-3 * torch.randn(4, 6, generator=g, dtype=torch.float64) + 0.01
    msg = message(lambda: assert_close(noisy, e, "out"))
    assert "looks like" not in msg, msg  # an offset plus noise is not "a constant shift"
    x = torch.linspace(-6, 6, 50, dtype=torch.float32)
    msg = message(lambda: assert_close(torch.nn.functional.gelu(x, approximate="tanh"), torch.nn.functional.gelu(x),
                                       "gelu"))
    assert "looks like" not in msg, msg
    assert message(lambda: assert_close(e * 0, e, "out")).splitlines()[1] == "  looks like: got is all zeros"
