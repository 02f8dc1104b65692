"""The per-candidate narrative: one line per question an interviewer can paste into a hiring packet.

Built from the graded report alone (``grading.grade``'s dict, or the JSON of ``llmgrade grade --json``),
deterministically, with no model calls. Every sentence comes from one rubric part (or the question's
integrity flags) and keeps the tests behind it, so an interviewer can check each claim:

    Q36 (2.75/5): online softmax values correct; ...; flash attention values correct; ...;
    not faster than naive attention (only 0.74x, needs 2x); ... — knows the recurrence, not the tiling.

The phrasing lives in the question's rubric, ``grader/rubrics/qNN.toml`` (one place per question)::

    [[part]]
    id = "memory"
    ...
    shows = "keeps memory far below the T x T matrix"        # said when the part earns all its points
    misses = "builds the full T x T score matrix"            # said when it earns less

    [[insight]]                                              # optional: a verdict on a pattern of parts
    passed = ["online_softmax", "flash_values"]              # these parts earn all their points
    failed = ["memory", "faster_than_naive"]                 # these earn nothing (and ran)
    says = "knows the recurrence, not the tiling"

Order: strengths (parts earning all their points), then gaps (parts earning less, with the evidence of the
first failing test's message, e.g. "(only 0.74x faster, needs 2x)"), then insights, then what was not
measured or not run, then integrity notes (``grader.integrity``: for review, never a verdict).

    narrative.build(report)  -> {qid: {"line": str, "sentences": [{"kind", "text", "part", "tests",
                                                                   "failed", "failure_kinds"}, ...]}}
    (``tests``: the test functions behind the sentence; ``failed``: up to 10 failing node ids;
    ``failure_kinds``: the plugin's kinds of those failures, grader.outcomes.KINDS)
    narrative.lines(report)  -> [str, ...]        one line per question (Gradescope, HTML summary)
    narrative.section(report) -> str             the terminal section printed after the score table
"""
from __future__ import annotations

import re
import tomllib
from functools import lru_cache

from .rubric import RUBRICS_DIR, test_name

EPS = 1e-9
KINDS = ("not_attempted", "strength", "gap", "gated", "insight", "not_measured", "not_run", "integrity")


@lru_cache(maxsize=None)
def phrasing(qid: str) -> tuple[dict[str, dict[str, str]], tuple[dict, ...]]:
    """({part id: {"shows", "misses"}}, insights) declared in ``grader/rubrics/qNN.toml``."""
    path = RUBRICS_DIR / f"{qid}.toml"
    if not path.exists():
        return {}, ()
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    parts = {p["id"]: {k: str(p[k]) for k in ("shows", "misses") if p.get(k)} for p in data.get("part", [])}
    insights = tuple({"passed": list(i.get("passed", [])), "failed": list(i.get("failed", [])),
                      "says": str(i["says"])} for i in data.get("insight", []) if i.get("says"))
    return parts, insights


def _plain(title: str) -> str:
    """A rubric title without its Chinese half and its '(gated)' remark."""
    return title.split(" / ")[0].replace("(gated)", "").strip().rstrip(";,")


# the grader's own phrasings of a failure, shortened to the fact an interviewer quotes
_EVIDENCE = [
    (re.compile(r"is only ([\d.]+x) faster.*?it must be at least ([\d.]+x) faster", re.S),
     lambda m: f"only {m[1]} faster, needs {m[2]}"),
    (re.compile(r"added (\d+ [KMG]iB) at its peak.*?the limit is (\d+ [KMG]iB)", re.S),
     lambda m: f"memory {m[1]} against a {m[2]} bound"),
    (re.compile(r"may add about (\d+ [KMG]iB).*?tried to allocate (\d+) bytes", re.S),
     lambda m: f"tried to allocate {int(m[2]) / 2**20:.0f} MiB against a {m[1]} bound"),
    (re.compile(r"may add about (\d+ [KMG]iB)", re.S), lambda m: f"failed within a {m[1]} memory bound"),
]


def evidence(message: str, width: int = 110) -> str:
    """The fact in a failing test's message: a speed ratio, a memory figure, or its first line clipped."""
    for pattern, say in _EVIDENCE:
        m = pattern.search(message)
        if m:
            return say(m)
    first = (message.strip().splitlines() or ["no message"])[0].strip()
    if " is not implemented yet" in first:
        return first.split(" is not implemented yet")[0] + " not implemented yet"
    if len(first) > width:
        cut = first[:width - 1]
        first = (cut[:cut.rfind(" ")] if cut.rfind(" ") > width // 2 else cut).rstrip(" ,;:(") + "…"
    return first


# how grader.checks words a wrong answer: "{what} is off: ...", "{what} has shape ...", ... ({what} describes the call)
_VERDICTS = re.compile(r" (is off|differs at|has shape|has dtype|has NaN|has|should be|was changed in place)\b.*")


def failure_key(message: str) -> str:
    """One kind of failure: the function the first line names and the checks' verdict on it, without numbers
    and parenthesised details, e.g. 'batch_norm| is off: max abs error # at index : got #, expected #';
    a line in other words (a timing or memory verdict, an exception) is its own kind, numbers aside."""
    first = (message.strip().splitlines() or [""])[0]
    prev = None
    while prev != first:
        prev, first = first, re.sub(r"\([^()]*\)|\[[^\[\]]*\]", "", first)
    first = re.sub(r"\s+", " ", re.sub(r"[-+]?\d[\d.e+-]*", "#", first)).strip()
    name = re.match(r"[\w.]*", first)[0]
    verdict = _VERDICTS.search(first)
    return f"{name}|{verdict[0]}" if name and verdict else first


def _sentence(kind: str, text: str, part: str | None, tests: list[dict]) -> dict:
    failed = [t for t in tests if t["status"] in ("failed", "error")]
    return {"kind": kind, "text": text, "part": part,
            "tests": sorted({test_name(t["nodeid"]) for t in tests}),
            "failed": [t["nodeid"] for t in tests if t["status"] != "passed"][:10],
            "failure_kinds": sorted({t["kind"] for t in failed if t.get("kind")})}  # grader.outcomes.KINDS


def question(qid: str, q: dict, timing: bool = True) -> dict:
    """The narrative of one question of a report: {"line", "sentences"}. ``timing``: the timing tests ran."""
    says, insights = phrasing(qid)
    parts = q.get("parts") or []
    tests = q.get("tests") or []
    by_part = {p["id"]: [t for t in tests if t.get("part") == p["id"]] for p in parts}
    out: list[dict] = []
    failing = [t for t in tests if t["status"] in ("failed", "error")]
    todo = [(t["message"].strip().splitlines() or [""])[0] for t in failing]
    stub = bool(failing) and all(t.get("kind") == "not_implemented" or (not t.get("kind") and " is not "
                                 "implemented yet" in m) for t, m in zip(failing, todo)) and not any(
        p["points"] > EPS for p in parts)
    if stub:  # an untouched stub: one sentence for the question
        names = ", ".join(dict.fromkeys(m.split(" is not implemented yet")[0].strip() for m in todo))
        out.append(_sentence("not_attempted", f"not attempted ({names} still raise NotImplementedError)",
                             None, failing))
    keys = {id(t): failure_key(t["message"]) for t in failing}
    if not stub and failing and len(set(keys.values())) == 1 and not any(p["points"] > EPS for p in parts):
        stub = True  # one failure everywhere (a missing module, an import error): one sentence
        out.append(_sentence("gap", f"earns nothing: {evidence(failing[0]['message'])}", None, failing))
    seen_keys: dict[str, str] = {}  # failure kind -> the first part (rubric order) that failed with it
    full = {p["id"] for p in parts if p["total"] and p["share"] >= 1 - EPS}
    zero = {p["id"] for p in parts if p["total"] and p["share"] <= EPS}
    for p in parts if not stub else ():
        mine = by_part[p["id"]]
        phr = says.get(p["id"], {})
        shows = phr.get("shows") or _plain(p["title"])
        misses = phr.get("misses") or f"not: {_plain(p['title'])}"
        if not p["total"]:
            continue  # said once below (not run)
        failed = [t for t in mine if t["status"] in ("failed", "error")]
        if p["id"] in full:
            out.append(_sentence("strength", shows, p["id"], mine))
        elif p["passed"] == p["total"] - p["not_measured"] and not failed and p["not_measured"]:
            out.append(_sentence("not_measured", f"{p['id']} not measured on this machine (counted as not "
                                                 f"passed)", p["id"], mine))
        elif not failed and p["gate_share"] < 1 - EPS:
            out.append(_sentence("gated", f"{p['id']} passes its own tests but counts only together with "
                                          f"{', '.join(p['gate'])}", p["id"], mine))
        else:
            earlier = {seen_keys.get(keys[id(t)]) for t in failed}
            if failed and None not in earlier:  # every failure is one already said for an earlier part
                out.append(_sentence("gated", f"{p['id']} lost to the same failure as {', '.join(sorted(earlier))} "
                                              f"({len(failed)} of {p['total']} tests)", p["id"], mine))
                continue
            for t in failed:
                seen_keys.setdefault(keys[id(t)], p["id"])
            fact = evidence(failed[0]["message"]) if failed else "tests not passed"
            share = "" if not p["passed"] else f"{len(failed)} of {p['total']} tests fail: "
            out.append(_sentence("gap", f"{misses} ({share}{fact})", p["id"], mine))
    for ins in insights if not stub else ():
        if set(ins["passed"]) <= full and set(ins["failed"]) <= zero:
            behind = [t for t in tests if t.get("part") in set(ins["passed"]) | set(ins["failed"])]
            out.append(_sentence("insight", ins["says"], None, behind))
    not_run = [p["id"] for p in parts if not p["total"]]
    if not_run and tests and not stub:
        why = "" if timing else " (--no-timing)"
        out.append(_sentence("not_run", f"not run in this grade{why}: {', '.join(not_run)}", None, []))
    for f in q.get("integrity") or []:
        s = _sentence("integrity", f"integrity flag for review, not scored: line {f['line']}, {f['what']} "
                                   f"({f['detail'][:60]})", None, [])
        s["flag"] = f
        out.append(s)
    out.sort(key=lambda s: KINDS.index(s["kind"]))
    return {"line": _line(qid, q, out), "sentences": out}


def _line(qid: str, q: dict, sentences: list[dict]) -> str:
    head = f"{qid.upper()} ({q['points']:.4g}/{q['max_points']:g})"
    if not q.get("tests"):
        return f"{head}: no hidden test ran"
    said = [s["text"] for s in sentences if s["kind"] not in ("insight", "integrity")]
    line = f"{head}: {'; '.join(said)}"
    insight = [s["text"] for s in sentences if s["kind"] == "insight"]
    if insight:
        line += " — " + "; ".join(insight)
    integrity = [s["text"] for s in sentences if s["kind"] == "integrity"]
    if integrity:
        line += ". " + "; ".join(integrity)
    return line


def build(report: dict) -> dict[str, dict]:
    """{qid: {"line", "sentences"}} for every question of a graded report."""
    timing = report.get("timing_tests", True)
    return {qid: question(qid, q, timing) for qid, q in report["questions"].items()}


def attach(report: dict) -> dict:
    """Put the narrative into the report (``report["narrative"]``) and return the report."""
    report["narrative"] = build(report)
    return report


def lines(report: dict) -> list[str]:
    """One pasteable line per question (from ``report["narrative"]`` if the report has one)."""
    nar = report.get("narrative") or build(report)
    return [v["line"] for v in nar.values()]


def section(report: dict) -> str:
    """The terminal section printed after the score table."""
    return "\n".join(["", "For the interviewer (strengths, then gaps, then integrity; each from the tests "
                          "behind it, see the JSON's narrative):", *lines(report)])


def summary_sections(entries) -> dict[str, list]:
    """{candidate: [grader.summary.Section]} for grade-many's HTML summary: the candidate's narrative, one
    line per question; hovering a sentence shows the tests behind it."""
    import html
    from .summary import Section
    out: dict[str, list] = {}
    for e in entries:
        rep = e.get("report")
        if not rep:
            continue
        items = []
        for qid, nar in (rep.get("narrative") or build(rep)).items():
            said = "; ".join(
                f"<span class='nar {s['kind']}' title='{html.escape(', '.join(s['failed'] or s['tests']), True)}'>"
                f"{html.escape(s['text'])}</span>" for s in nar["sentences"])
            head = html.escape(nar["line"].split(": ", 1)[0])
            items.append(f"<li><b>{head}</b>: {said}</li>")
        out[e["candidate"]] = [Section("For the interviewer: what the candidate showed (hover: the tests behind it)",
                                       f"<ul class=narrative>{''.join(items)}</ul>")]
    return out
