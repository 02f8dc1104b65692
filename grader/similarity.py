"""Similarity between submissions, and to the references: a flag for an interviewer to review, never a verdict.

Per question, every pair of submissions is compared, and each submission with the project's references
(named ``references``), with ``copydetect`` (https://github.com/blingenf/copydetect): the code is
tokenised with pygments, which replaces every variable, attribute and function name by one letter and
drops comments, whitespace and the text of strings (docstrings included); fingerprints are the hashes of
every run of ``K`` such tokens (winnowing as in MOSS, with window 1: every k-gram kept, so the figures
do not depend on Python's per-process string hashing). Renamed variables, rewritten comments and
reordered functions therefore leave a copy's fingerprints in place.

The stub's text is subtracted: every fingerprint of the question's stub (``exercises/qNN/<module>.py``:
its docstrings, signatures, imports) is boilerplate, removed from both sides before comparing, so two
untouched stubs share nothing (similarity 0).

A pair's ``similarity`` (0-1) is the larger of the two shares ``a_share`` / ``b_share``: the share of a
side's own (non-stub) code that is found in the other. It is ``flagged`` when it reaches ``THRESHOLD`` and
the matched code is at least ``MIN_MATCH`` tokens long (a short canonical line written alike by two people
is no evidence). What it proves and does not: see the README ("Similarity").

    result = compare(root)           # root: a folder of submissions (as for grade-many) or one submission
    result.to_json()                 # {"pairs": [{"question", "a", "b", "similarity", "flagged", ...}], ...}
    result.html()                    # the flagged pairs, matching regions highlighted side by side
"""
from __future__ import annotations

import html as _html
import io
import time
from dataclasses import dataclass, field
from pathlib import Path

from .questions import PROJECT_ROOT, Question, existing

REFERENCES = "references"
K = 50  # tokens (characters of tokenised code) per fingerprint: about two lines; calibrated in qa/test_similarity.py
WINDOW = 1  # winnowing window: every k-gram is a fingerprint (exact, and independent of hash seeds)
THRESHOLD = 0.5  # similarity at or above which a pair is flagged for review
MIN_MATCH = 100  # and at least this many matched tokens (about four lines of code)


def _copydetect():
    try:
        import copydetect  # noqa: F401
        from copydetect import CodeFingerprint, compare_files
        from copydetect.utils import get_token_coverage, highlight_overlap
    except ModuleNotFoundError as e:
        raise SystemExit("llmgrade similarity needs copydetect: .venv/bin/pip install -e '.[similarity]' "
                         f"(or bash scripts/setup.sh) [{e}]") from None
    return CodeFingerprint, compare_files, get_token_coverage, highlight_overlap


def fingerprint(text: str, filename: str, boilerplate: frozenset[int] = frozenset()):
    """copydetect's fingerprint of ``text`` with the ``boilerplate`` hashes (the stub's) removed."""
    CodeFingerprint, _, get_token_coverage, _ = _copydetect()
    fp = CodeFingerprint(filename, K, WINDOW, fp=io.StringIO(text), language="python")
    if boilerplate:
        # remove every stub fingerprint (the library's own boilerplate filter misses repeated k-grams)
        fp.hashes = {h for h in fp.hashes if h not in boilerplate}
        fp.hash_idx = {h: i for h, i in fp.hash_idx.items() if h not in boilerplate}
        fp.token_coverage = get_token_coverage(fp.hash_idx, K, len(fp.filtered_code))
    return fp


def _blank(text: str, spans: list[tuple[int, int]]) -> str:
    """``text`` with the character spans replaced by spaces (newlines kept: offsets and lines stay put)."""
    chars = list(text)
    for s, e in spans:
        for i in range(s, min(e, len(chars))):
            if chars[i] != "\n":
                chars[i] = " "
    return "".join(chars)


def _docstrings(text: str) -> list[tuple[int, int]]:
    """Character spans of the module's, classes' and functions' docstrings (prose, not code)."""
    import ast
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return []
    starts = [0]
    for line in text.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))

    def at(line: int, col: int) -> int:  # ast columns count UTF-8 bytes
        row = text[starts[line - 1]:starts[line] if line < len(starts) else len(text)]
        return starts[line - 1] + len(row.encode("utf-8")[:col].decode("utf-8", errors="ignore"))

    out = []
    todo = [tree]  # the module, its classes and functions (nested ones too): not every node
    while todo:
        node = todo.pop()
        first = node.body[0] if node.body else None
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
            out.append((at(first.lineno, first.col_offset), at(first.end_lineno, first.end_col_offset)))
        todo += [n for n in node.body if isinstance(n, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))]
    return out


def subtract_stub(text: str, stub_lines: frozenset[str]) -> str:
    """The candidate's own text: docstrings and every line that is also a line of the stub blanked out."""
    text = _blank(text, _docstrings(text))
    spans, pos = [], 0
    for line in text.splitlines(keepends=True):
        if line.strip() and line.strip() in stub_lines:
            spans.append((pos, pos + len(line)))
        pos += len(line)
    return _blank(text, spans)


@dataclass(frozen=True)
class Stub:
    """A question's stub: its lines (blanked from every submission) and its remaining fingerprints."""
    lines: frozenset[str]
    hashes: frozenset[int]


def stub_of(q: Question, exercises: Path = PROJECT_ROOT / "exercises") -> Stub:
    path = exercises / q.qid / q.filename
    if not path.exists():
        return Stub(frozenset(), frozenset())
    text = path.read_text(encoding="utf-8", errors="replace")
    lines = frozenset(s.strip() for s in text.splitlines() if s.strip())
    return Stub(lines, frozenset(fingerprint(subtract_stub(text, lines), q.filename).hashes))


def _lines(text: str, spans) -> list[list[int]]:
    """Character spans -> 1-based [first, last] line ranges."""
    out: list[list[int]] = []
    for s, e in spans:
        a, b = text.count("\n", 0, s) + 1, text.count("\n", 0, max(s, e - 1)) + 1
        if out and a <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return out


def compare_pair(qid: str, a: str, fa, text_a: str, b: str, fb, text_b: str, *,
                 threshold: float = THRESHOLD, min_match: int = MIN_MATCH) -> dict:
    """One compared pair: the interface's fields (question, a, b, similarity, flagged) and the evidence."""
    _, compare_files, _, _ = _copydetect()
    if not fa.token_coverage or not fb.token_coverage:
        overlap, (sa, sb), spans = 0, (0.0, 0.0), ([], [])
    else:
        overlap, (sa, sb), slices = compare_files(fa, fb)
        spans = tuple([[int(s), int(e)] for s, e in zip(*sl)] if len(sl) and len(sl[0]) else [] for sl in slices)
    sim = float(max(sa, sb))
    return {"question": qid, "a": a, "b": b, "similarity": round(min(sim, 1.0), 4),
            "flagged": bool(sim >= threshold and overlap >= min_match),
            "a_share": round(float(sa), 4), "b_share": round(float(sb), 4), "matched_tokens": int(overlap),
            "a_tokens": int(fa.token_coverage), "b_tokens": int(fb.token_coverage),
            "a_spans": spans[0], "b_spans": spans[1],
            "a_lines": _lines(text_a, spans[0]), "b_lines": _lines(text_b, spans[1])}


@dataclass
class Result:
    pairs: list[dict]
    sources: dict[tuple[str, str], str] = field(repr=False)  # (name, qid) -> source text
    seconds: float = 0.0
    threshold: float = THRESHOLD
    min_match: int = MIN_MATCH

    def flagged(self) -> list[dict]:
        return sorted((p for p in self.pairs if p["flagged"]), key=lambda p: -p["similarity"])

    def to_json(self) -> dict:
        return {"pairs": self.pairs, "threshold": self.threshold, "min_match_tokens": self.min_match,
                "k": K, "tool": "copydetect (pygments tokens, k-gram fingerprints), the stub subtracted",
                "seconds": round(self.seconds, 2),
                "note": "a flag for an interviewer to review, never a verdict"}

    def html(self, limit: int = 40) -> str:
        """An HTML fragment: the flagged pairs, matching regions highlighted (copydetect's highlighter)."""
        _, _, _, highlight_overlap = _copydetect()
        import numpy as np
        flagged = self.flagged()
        out = [f"<h2>Similarity</h2><p>{len(flagged)} of {len(self.pairs)} compared pairs reach "
               f"{self.threshold:.0%} (with at least {self.min_match} matching tokens, the stub's text "
               "subtracted): <b>a flag for review, never a verdict</b>. Highlighted: code found in both.</p>"]
        for p in flagged[:limit]:
            cols = []
            for side in ("a", "b"):
                text = self.sources.get((p[side], p["question"]), "")
                spans = np.array(p[f"{side}_spans"], dtype=int).T if p[f"{side}_spans"] else np.zeros((2, 0), int)
                code = highlight_overlap(text, spans, "<mark>", "</mark>", escape_html=True)[0] \
                    if spans.shape[1] else _html.escape(text)
                cols.append(f"<td><b>{_html.escape(p[side])}</b> ({p[f'{side}_share']:.0%} of its own code "
                            f"matched)<pre>{code}</pre></td>")
            out.append(f"<details><summary>{p['question']}: {_html.escape(p['a'])} ~ {_html.escape(p['b'])} "
                       f"{p['similarity']:.0%}</summary><table class=sim><tr>{''.join(cols)}</tr></table></details>")
        if len(flagged) > limit:
            out.append(f"<p>(+{len(flagged) - limit} more flagged pairs: see similarity.json)</p>")
        return "\n".join(out)


HTML_STYLE = ("table.sim td{vertical-align:top;text-align:left;width:50%}table.sim pre{font-size:80%;"
              "overflow:auto;max-height:40em}mark{background:#fd8}")


def submissions(root: Path) -> list[tuple[str, Path]]:
    """(name, folder) of each submission under ``root`` (as grade-many finds them)."""
    from . import many
    name_of = getattr(many, "candidate_name", None) or getattr(many, "_name")
    out = []
    for sub in many.submissions_in(Path(root)):
        name = name_of(sub)
        out.append((f"{name} (submission)" if name == REFERENCES else name, sub))
    return out


def compare(root: Path | str, qids: list[str] | None = None, *, references: Path | None = PROJECT_ROOT / "solutions",
            threshold: float = THRESHOLD, min_match: int = MIN_MATCH,
            subs: list[tuple[str, Path]] | None = None) -> Result:
    """Every pair of submissions under ``root``, and each with the references, per question."""
    t0 = time.perf_counter()
    subs = submissions(Path(root)) if subs is None else subs
    if references is not None and Path(references).is_dir():
        subs = subs + [(REFERENCES, Path(references))]
    pairs: list[dict] = []
    sources: dict[tuple[str, str], str] = {}
    for q in existing():
        if qids and q.qid not in qids:
            continue
        stub = stub_of(q)
        fps, seen = [], {}
        for name, folder in subs:
            path = folder / q.qid / q.filename
            if not path.is_file():
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
            sources[(name, q.qid)] = text
            if text not in seen:  # untouched stubs and plain copies: tokenised once
                seen[text] = fingerprint(subtract_stub(text, stub.lines), q.filename, stub.hashes)
            fps.append((name, seen[text], text))
        for i in range(len(fps)):
            for j in range(i + 1, len(fps)):
                (a, fa, ta), (b, fb, tb) = fps[i], fps[j]
                if b != REFERENCES and a == REFERENCES:
                    (a, fa, ta), (b, fb, tb) = (b, fb, tb), (a, fa, ta)
                pairs.append(compare_pair(q.qid, a, fa, ta, b, fb, tb, threshold=threshold, min_match=min_match))
    return Result(pairs, sources, time.perf_counter() - t0, threshold, min_match)


def summary_lines(result: Result, limit: int = 20) -> list[str]:
    flagged = result.flagged()
    rows = [f"similarity: {len(flagged)} of {len(result.pairs)} pairs flagged for review (>= {result.threshold:.0%}, "
            f"stub subtracted) in {result.seconds:.1f}s"]
    for p in flagged[:limit]:
        rows.append(f"  {p['question']}  {p['a']:<20} ~ {p['b']:<20} {p['similarity']:.0%}  "
                    f"(lines {_fmt(p['a_lines'])} ~ {_fmt(p['b_lines'])})")
    if len(flagged) > limit:
        rows.append(f"  (+{len(flagged) - limit} more: see the JSON)")
    return rows


def _fmt(ranges: list[list[int]]) -> str:
    return ",".join(f"{a}-{b}" if a != b else str(a) for a, b in ranges[:4]) + ("…" if len(ranges) > 4 else "")


def main(root: Path, json_out: Path | None, html_out: Path | None = None, qids: list[str] | None = None,
         threshold: float = THRESHOLD, references: bool = True) -> int:
    import json
    from .many import submissions_in
    if not submissions_in(Path(root)):
        print(f"llmgrade similarity: no submissions under {root} (folders containing qNN/ folders)")
        return 2
    result = compare(root, qids, threshold=threshold,
                     references=PROJECT_ROOT / "solutions" if references else None)
    if json_out:
        Path(json_out).write_text(json.dumps(result.to_json(), indent=1, ensure_ascii=False), encoding="utf-8")
    if html_out:
        Path(html_out).write_text(f"<!doctype html><meta charset=utf-8><title>Similarity</title><style>"
                                  f"body{{font-family:sans-serif}}{HTML_STYLE}</style>{result.html()}",
                                  encoding="utf-8")
    print("\n".join(summary_lines(result)))
    return 0


def batch_sections(root: Path, out: Path, entries, qids: list[str] | None = None):
    """For grade-many: compare the batch, write ``out/similarity.json`` beside the summary, and return
    (the summary's section with the flagged pairs highlighted, {candidate: [section of its own flags]})."""
    import importlib.util
    import json
    from .summary import Section
    if importlib.util.find_spec("copydetect") is None:
        print("similarity skipped: copydetect is not installed (pip install -e '.[similarity]')")
        return Section.text("Similarity", "Not computed: copydetect is not installed "
                                          "(pip install -e '.[similarity]')."), {}
    result = compare(root, qids)
    Path(out, "similarity.json").write_text(json.dumps(result.to_json(), indent=1, ensure_ascii=False),
                                            encoding="utf-8")
    print("\n".join(summary_lines(result, limit=10)) + f"\n  (all pairs: {Path(out) / 'similarity.json'})")
    mine: dict[str, list] = {}
    for e in entries:
        flags = [p for p in result.flagged() if e["candidate"] in (p["a"], p["b"])]
        if flags:
            rows = "".join(f"<li>{p['question']}: {_html.escape(p['b'] if p['a'] == e['candidate'] else p['a'])} "
                           f"{p['similarity']:.0%}</li>" for p in flags)
            mine[e["candidate"]] = [Section("Similarity flags (for review, never a verdict; see below the table)",
                                            f"<ul>{rows}</ul>")]
    return Section("Similarity between submissions and to the references",
                   f"<style>{HTML_STYLE}</style>{result.html()}"), mine
