"""The score table printed after a grade."""
from __future__ import annotations

import unicodedata


def _pad(text: str, width: int) -> str:
    """Left-justify to a display width (CJK characters take two columns)."""
    out, used = "", 0
    for ch in text:
        w = 2 if unicodedata.east_asian_width(ch) in "WF" else 1
        if used + w > width:
            break
        out, used = out + ch, used + w
    return out + " " * (width - used)


def _clip(text: str, width: int) -> str:
    """At most ``width`` characters, cut at a word boundary with an ellipsis."""
    if len(text) <= width:
        return text
    cut = text[:width - 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > width // 2 else cut).rstrip(" ,;:(") + "…"


def table(rep: dict) -> str:
    rows = [f"{'question':<52} {'tests':>9} {'points':>13}", "-" * 76]
    for qid, q in rep["questions"].items():
        mark = "ok " if q["total"] and q["passed"] == q["total"] else "   "
        rows.append(f"{mark}{qid} {_pad(q['title'], 45)} {q['passed']:>4}/{q['total']:<4} "
                    f"{q['points']:>6.2f}/{q['max_points']:<5g}")
        lost = [p for p in q.get("parts", []) if p["points"] < p["max_points"] - 1e-9]
        if lost and len(q.get("parts", [])) > 1:
            rows.append("      parts: " + "; ".join(
                f"{p['id']} {p['points']:.2f}/{p['max_points']:g}" for p in q["parts"]))
        if q["passed"] < q["total"] or q.get("skipped") or lost:
            for note in q["notes"][:3]:
                rows.append(f"      {_clip(note, 150)}")
            if len(q["notes"]) > 3:
                rows.append(f"      (+{len(q['notes']) - 3} more kinds of failure: see the JSON report)")
        for f in q.get("integrity", []):  # grader.integrity: for the interviewer to review, not scored
            rows.append(f"      integrity flag (review; not scored): line {f['line']}: {f['what']} "
                        f"({_clip(f['detail'], 80)})")
    rows.append("-" * 76)
    rows.append(f"{'total':<52} {'':>9} {rep['score']:>6.2f}/{rep['max_score']:<5g}")
    rows.append(f"graded {rep['submission']} in {rep['seconds']:.1f}s; isolation: {rep['isolation']}")
    if not rep.get("timing_tests", True):
        rows.append("timing tests were skipped (--no-timing)")
    return "\n".join(rows)
