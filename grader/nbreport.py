"""The text an nbgrader test cell shows for one graded question (both grading paths print the same)."""
from __future__ import annotations


def describe(entry: dict, how: str) -> str:
    """One question of ``grader.grading.grade``'s report -> lines: score, each rubric part, the notes."""
    lines = [f"hidden tests ({how}): {entry['points']:g}/{entry['max_points']:g} points, "
             f"{entry['passed']}/{entry['total']} tests pass"]
    for p in entry.get("parts", []):
        mark = "✓" if p["points"] >= p["max_points"] - 1e-9 else "✘"
        lines.append(f"  {mark} part {p['id']}: {p['points']:.2f}/{p['max_points']:g}  ({p['title']})")
    for note in entry.get("notes", [])[:8]:
        lines.append(f"  - {note}")
    return "\n".join(lines)
