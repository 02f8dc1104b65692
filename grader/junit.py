"""Reading pytest's JUnit XML: one outcome per test."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Outcome:
    nodeid: str  # "tests/q21/test_causal_mask.py::test_square_masks[1]"
    qid: str
    status: str  # "passed" | "failed" | "error" | "skipped"
    message: str
    seconds: float


def read(path: Path) -> list[Outcome]:
    out: list[Outcome] = []
    root = ET.parse(path).getroot()
    for case in root.iter("testcase"):
        classname = case.get("classname", "")
        name = case.get("name", "")
        parts = classname.split(".")
        qid = next((p for p in parts if len(p) == 3 and p.startswith("q") and p[1:].isdigit()), "")
        file = "/".join(parts) + ".py" if parts else ""
        nodeid = f"{file}::{name}"
        status, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            el = case.find(tag)
            if el is not None:
                status = {"failure": "failed", "error": "error", "skipped": "skipped"}[tag]
                message = (el.get("message") or el.text or "").strip()
                break
        out.append(Outcome(nodeid, qid, status, message, float(case.get("time", 0) or 0)))
    return out
