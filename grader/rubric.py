"""A question's rubric: its points split across named parts that say what the question is about.

One file per question, ``grader/rubrics/qNN.toml`` (the only place a question's parts are declared)::

    [[part]]
    id = "flash_fast"                      # short, stable: used in JSON, JUnit properties, Gradescope
    title = "flash is faster than naive and skips the tiles above the diagonal / ..."
    weight = 30                            # percent of the question's points; a question's weights sum to 100
    tests = ["test_flash_faster_than_naive", "test_causal_skips_*"]   # hidden test functions (fnmatch globs)
    gate = ["flash_values"]                # optional: earns only together with these parts (see below)

Every hidden test function of the question belongs to exactly one part (the project's suite checks it).

A part scores the share of its tests that pass, times the share of each part it is gated on: a test that
a stub, a constant or an always-raising answer can pass (inputs unchanged, argument errors, returns a
float, a range property) sits in a part gated on the part that checks correct values, so it earns
nothing until the values are right. A test that did not run to a verdict (skipped: e.g. this machine
cannot measure) counts as not passed, with a note: it never leaves the total.
"""
from __future__ import annotations

import fnmatch
import re
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from .questions import PACKAGE_DIR

RUBRICS_DIR = PACKAGE_DIR / "rubrics"
_ID = re.compile(r"^[a-z][a-z0-9_]*$")


class RubricError(Exception):
    """A rubric file is malformed (the project's fault, never the candidate's)."""


@dataclass(frozen=True)
class Part:
    id: str
    title: str
    weight: float  # percent of the question's points
    tests: tuple[str, ...]  # fnmatch globs over hidden test function names
    gate: tuple[str, ...] = field(default=())

    def owns(self, test_name: str) -> bool:
        return any(fnmatch.fnmatchcase(test_name, pat) for pat in self.tests)


@dataclass(frozen=True)
class Rubric:
    qid: str
    parts: tuple[Part, ...]

    def part_of(self, test_name: str) -> Part | None:
        """The part a hidden test function belongs to (the first whose globs match), or None."""
        for p in self.parts:
            if p.owns(test_name):
                return p
        return None

    def get(self, part_id: str) -> Part:
        for p in self.parts:
            if p.id == part_id:
                return p
        raise KeyError(part_id)


def test_name(nodeid: str) -> str:
    """``tests/q36/test_x.py::test_flash[3-float32]`` -> ``test_flash``."""
    return nodeid.split("::")[-1].split("[", 1)[0]


def _parse(qid: str, data: dict, source: str) -> Rubric:
    raw = data.get("part")
    if not isinstance(raw, list) or not raw:
        raise RubricError(f"{source}: no [[part]] tables")
    parts = []
    for i, e in enumerate(raw):
        try:
            pid, title, weight = e["id"], e["title"], float(e["weight"])
            tests = tuple(e["tests"])
        except (KeyError, TypeError, ValueError) as err:
            raise RubricError(f"{source}: part {i + 1} needs id, title, weight and tests ({err})") from None
        gate = e.get("gate", ())
        gate = (gate,) if isinstance(gate, str) else tuple(gate)
        if not _ID.match(pid):
            raise RubricError(f"{source}: part id {pid!r} must be lower_snake_case")
        if weight <= 0 or not tests:
            raise RubricError(f"{source}: part {pid!r} needs a positive weight and at least one test")
        parts.append(Part(pid, str(title), weight, tests, gate))
    ids = [p.id for p in parts]
    if len(set(ids)) != len(ids):
        raise RubricError(f"{source}: part ids repeat: {ids}")
    total = sum(p.weight for p in parts)
    if abs(total - 100) > 1e-9:
        raise RubricError(f"{source}: weights sum to {total:g}, not 100")
    for p in parts:
        for g in p.gate:
            if g not in ids or g == p.id:
                raise RubricError(f"{source}: part {p.id!r} is gated on unknown part {g!r}")
            if rubric_gate_depth(parts, p.id) > len(parts):
                raise RubricError(f"{source}: gates form a cycle at {p.id!r}")
    return Rubric(qid, tuple(parts))


def rubric_gate_depth(parts, pid: str, seen: tuple = ()) -> int:
    if pid in seen:
        return len(parts) + 1
    part = next(p for p in parts if p.id == pid)
    return 1 + max((rubric_gate_depth(parts, g, seen + (pid,)) for g in part.gate), default=0)


@lru_cache(maxsize=None)
def rubric(qid: str) -> Rubric:
    """The rubric of ``qid``; a question without a rubric file has one part holding all its tests."""
    path = RUBRICS_DIR / f"{qid}.toml"
    if not path.exists():
        return Rubric(qid, (Part("all", "all hidden tests", 100.0, ("*",)),))
    return _parse(qid, tomllib.loads(path.read_text(encoding="utf-8")), str(path))


def score_parts(qid: str, points: float, outcomes: list[tuple[str, str]], *,
                absent_full: bool = False) -> list[dict]:
    """Per part: tests passed / counted, its share, its gate's share and the points it earns.

    ``outcomes``: (nodeid, status) for every hidden test of the question ("passed", "failed", "error",
    "skipped"). A skipped test counts as not passed ("not measured"). ``absent_full``: a part none of
    whose tests ran counts as full (the mutant catalog, which leaves the timing tests out of most runs).
    """
    rb = rubric(qid)
    tally: dict[str, list[int]] = {p.id: [0, 0, 0] for p in rb.parts}  # passed, total, skipped
    for nodeid, status in outcomes:
        part = rb.part_of(test_name(nodeid))
        if part is None:
            continue  # the project's suite guarantees this never happens in a release
        t = tally[part.id]
        t[1] += 1
        t[0] += status == "passed"
        t[2] += status == "skipped"
    own = {pid: (t[0] / t[1] if t[1] else float(absent_full)) for pid, t in tally.items()}

    def gated(pid: str) -> float:
        part = rb.get(pid)
        share = own[pid]
        for g in part.gate:
            share *= gated(g)
        return share

    out = []
    for p in rb.parts:
        passed, total, skipped = tally[p.id]
        gate_share = 1.0
        for g in p.gate:
            gate_share *= gated(g)
        share = own[p.id] * gate_share
        out.append({"id": p.id, "title": p.title, "weight": p.weight, "passed": passed, "total": total,
                    "not_measured": skipped, "share": round(share, 6), "gate": list(p.gate),
                    "gate_share": round(gate_share, 6),
                    "max_points": round(points * p.weight / 100, 6),
                    "points": round(points * p.weight / 100 * share, 6)})
    return out
