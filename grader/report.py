"""The score table printed after a grade, and the one way scores are written (``points_text``,
``score_text``: two decimals earned, the maximum as it is, e.g. ``19.73 / 100``)."""
from __future__ import annotations

import unicodedata


def points_text(points: float) -> str:
    """Points earned, always with two decimals (``19.73``, ``100.00``, ``0.00``)."""
    return f"{points:.2f}"


def score_text(points: float, max_points: float) -> str:
    """``earned / max`` as every output of the grader writes it: ``19.73 / 100``, ``2.75 / 5``."""
    return f"{points_text(points)} / {max_points:g}"


def char_width(ch: str) -> int:
    """Terminal columns of one character: 2 for East Asian wide and full-width, 0 for combining marks."""
    if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in "WF" else 1


def display_width(text: str) -> int:
    return sum(char_width(ch) for ch in text)


def fit(text: str, width: int) -> str:
    """``text`` in exactly ``width`` columns: padded, or cut between whole characters with an ellipsis
    (never half a CJK character); a cut prefers the end of a word or of the ' / ' before a translation."""
    if display_width(text) <= width:
        return text + " " * (width - display_width(text))
    out, used = "", 0
    for ch in text:
        w = char_width(ch)
        if used + w > width - 1:  # one column for the ellipsis
            break
        out, used = out + ch, used + w
    space = out.rfind(" ")
    if space > len(out) // 2 and out[space - 1:space] != "/" and not _wide(out[space + 1:space + 2]):
        out = out[:space]
    out = out.rstrip(" /,;:(") + "…"
    return out + " " * (width - display_width(out))


def _wide(ch: str) -> bool:
    return bool(ch) and char_width(ch) == 2


def rjust(text: str, width: int) -> str:
    return " " * max(0, width - display_width(text)) + text


def _pad(text: str, width: int) -> str:
    """Left-justify to a display width, cut between whole characters (no ellipsis; grader.candidate adds its own)."""
    out, used = "", 0
    for ch in text:
        if used + char_width(ch) > width:
            break
        out, used = out + ch, used + char_width(ch)
    return out + " " * (width - used)


def _clip(text: str, width: int) -> str:
    """At most ``width`` columns, cut at a word boundary with an ellipsis."""
    if display_width(text) <= width:
        return text
    cut = _pad(text, width - 1).rstrip()
    space = cut.rfind(" ")
    return (cut[:space] if space > len(cut) // 2 else cut).rstrip(" ,;:(") + "…"


TITLE_COLUMNS = 46  # "ok q21 " + the title in this many columns
TESTS_COLUMNS = 9   # " 112/118 "
POINTS_COLUMNS = 15  # "100.00 / 100"


def _row(left: str, tests: str, points: str) -> str:
    return f"{left} {tests:^{TESTS_COLUMNS}} {rjust(points, POINTS_COLUMNS)}"


def table(rep: dict) -> str:
    """The score table: one row per question (title in display columns, so 中文 titles line up), the
    parts of a question that lost points, its notes, integrity flags, and the total; every score written
    as ``score_text`` writes it."""
    left_width = 7 + TITLE_COLUMNS
    header = _row(fit("question", left_width), "tests", "points")
    rule = "-" * display_width(header)
    rows = [header, rule]
    for qid, q in rep["questions"].items():
        mark = "ok " if q["total"] and q["passed"] == q["total"] else "   "
        rows.append(_row(f"{mark}{qid} {fit(q['title'], TITLE_COLUMNS)}", f"{q['passed']}/{q['total']}",
                         score_text(q["points"], q["max_points"])))
        lost = [p for p in q.get("parts", []) if p["points"] < p["max_points"] - 1e-9]
        if lost and len(q.get("parts", [])) > 1:
            rows.append("      parts: " + "; ".join(
                f"{p['id']} {score_text(p['points'], p['max_points'])}" for p in q["parts"]))
        if q["passed"] < q["total"] or q.get("skipped") or lost:
            for note in q["notes"][:3]:
                rows.append(f"      {_clip(note, 150)}")
            if len(q["notes"]) > 3:
                rows.append(f"      (+{len(q['notes']) - 3} more kinds of failure: see the JSON report)")
        for f in q.get("integrity", []):  # grader.integrity: for the interviewer to review, not scored
            rows.append(f"      integrity flag (review; not scored): line {f['line']}: {f['what']} "
                        f"({_clip(f['detail'], 80)})")
    rows.append(rule)
    rows.append(_row(fit("total", left_width), "", score_text(rep["score"], rep["max_score"])))
    rows.append(f"graded {rep['submission']} in {rep['seconds']:.1f}s; isolation: {rep['isolation']}")
    if not rep.get("timing_tests", True):
        rows.append("timing tests were skipped (--no-timing)")
    return "\n".join(rows)
