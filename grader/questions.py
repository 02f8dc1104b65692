"""The question registry: which module a candidate edits for each question, and its points.

Read from ``questions.toml`` beside this file (the single weights file of the grader).
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = PACKAGE_DIR.parent


@dataclass(frozen=True)
class Question:
    qid: str  # "q21"
    title: str
    module: str  # the stub module a candidate edits, e.g. "causal_mask"
    points: float
    given: tuple[str, ...] = field(default=())  # modules shipped with the exercise (trusted copies)

    @property
    def filename(self) -> str:
        return f"{self.module}.py"

    @property
    def number(self) -> int:
        return int(self.qid[1:])


@lru_cache(maxsize=None)
def all_questions() -> dict[str, Question]:
    data = tomllib.loads((PACKAGE_DIR / "questions.toml").read_text(encoding="utf-8"))
    return {
        qid: Question(qid=qid, title=e["title"], module=e["module"], points=float(e["points"]),
                      given=tuple(e.get("given", ())))
        for qid, e in sorted(data.items())
    }


def get(qid: str) -> Question:
    try:
        return all_questions()[qid]
    except KeyError:
        raise KeyError(f"unknown question {qid!r}; known: {', '.join(all_questions())}") from None


def existing(root: Path = PROJECT_ROOT) -> list[Question]:
    """Questions whose exercise folder exists in this copy of the project."""
    return [q for q in all_questions().values() if (root / "exercises" / q.qid / q.filename).exists()]


def forbidden_calls(qid: str, exercises_root: Path = PROJECT_ROOT / "exercises") -> dict[str, list[str]]:
    """Forbidden calls declared beside the stub in ``forbidden.toml``: {function: [dotted call, ...]}.

    Always read from the trusted exercises folder, never from a submission.
    """
    path = exercises_root / qid / "forbidden.toml"
    if not path.exists():
        return {}
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    return {fn: list(calls) for fn, calls in data.get("forbidden", {}).items()}
