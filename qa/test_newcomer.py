"""Small things a newcomer tripped on (issue 13, item 4), kept fixed: documented commands and flags exist,
the handout's --help lists only what works there, the score table lines up 中文 titles and cuts them
between whole characters, and every score is written one way (grader.report.score_text)."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from grader import cli, report
from grader.questions import PROJECT_ROOT, all_questions

DOCS = [PROJECT_ROOT / "README.md", *sorted((PROJECT_ROOT / "docs").glob("*.md"))]


def _options(parser) -> dict[str, set[str]]:
    """{command: its option strings} of llmgrade's parser."""
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return {name: {s for a in p._actions for s in a.option_strings} for name, p in sub.choices.items()}


def test_every_documented_llmgrade_flag_exists():
    """`llmgrade grade --isolate` was documented and does not exist (isolation is the default)."""
    options = _options(cli.build_parser())
    wrong = []
    for doc in DOCS:
        for n, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), 1):
            for m in re.finditer(r"llmgrade ([a-z][a-z-]*)((?:[^`|#\n;)]*))", line):
                command, rest = m.group(1), m.group(2)
                if command not in options:  # prose ("llmgrade is ..."), or a command of the handout only
                    continue
                for flag in re.findall(r"(?<![\w-])(--?[a-zA-Z][\w-]*)", rest):
                    if flag not in options[command] and flag not in ("-h", "--help"):
                        wrong.append(f"{doc.name}:{n}: llmgrade {command} has no {flag}")
    assert not wrong, "\n".join(wrong)


def test_handout_help_lists_only_the_commands_that_work_there(tmp_path):
    out = tmp_path / "handout"
    subprocess.run([sys.executable, "-m", "grader.cli", "release", str(out)], cwd=PROJECT_ROOT, check=True,
                   capture_output=True, timeout=300)
    proc = subprocess.run([sys.executable, "-m", "grader.cli", "--help"], cwd=out, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    listed = set(re.findall(r"llmgrade ([a-z][a-z-]+)", proc.stdout)) | set(
        re.findall(r"\{([a-z,-]+)\}", proc.stdout)[0].split(","))
    assert listed == {"progress", "hint", "watch"}, proc.stdout
    for command in cli.INTERVIEWER_COMMANDS:  # and each refused there says so politely
        refused = subprocess.run([sys.executable, "-m", "grader.cli", command, "x"], cwd=out, capture_output=True,
                                 text=True, timeout=60)
        assert refused.returncode == 2 and "not available in the candidate handout" in refused.stderr, command


def _report(titles: dict[str, str], points: dict[str, float]) -> dict:
    qs = {qid: {"title": t, "points": points[qid], "max_points": 5.0, "passed": 3, "total": 7, "notes": [],
                "parts": []} for qid, t in titles.items()}
    return {"questions": qs, "score": sum(points.values()), "max_score": 5.0 * len(qs), "submission": "x",
            "seconds": 1.0, "isolation": "test"}


def test_score_table_lines_up_chinese_titles_and_cuts_whole_characters():
    titles = {q.qid: q.title for q in all_questions().values()}
    titles["q39"] = "注意力" * 30  # far wider than the column
    titles["q38"] = "Packing / 无串扰的样本打包" + "包" * 20
    text = report.table(_report(titles, {qid: 1.23456 for qid in titles}))
    rows = [r for r in text.splitlines() if re.match(r"^(ok |   )q\d\d ", r)]
    assert len(rows) == len(titles)
    widths = {report.display_width(r) for r in rows}
    assert len(widths) == 1, f"rows of different display widths: {widths}"
    # the points column starts at the same display column in every row
    starts = {report.display_width(r[:r.rindex("1.23 / 5")]) for r in rows}
    assert len(starts) == 1, starts
    for r in rows:
        assert "\ufffd" not in r
    cut = [r for r in rows if "…" in r]
    assert len(cut) >= 2 and any(r.startswith("   q39 注意力") for r in cut)
    assert report.fit("缩放点积注意力", 6) == "缩放… " and report.display_width(report.fit("缩放点积注意力", 6)) == 6
    assert report.fit("KV cache / KV 缓存", 30) == "KV cache / KV 缓存" + " " * 12


def test_every_score_is_written_one_way():
    """`19.7299 / 100.0` beside `100.0` once: two decimals earned, the maximum as it is, everywhere."""
    rep = _report({"q21": "Causal mask / 因果掩码", "q22": "Attention"}, {"q21": 5.0, "q22": 1.2345678})
    rep["questions"]["q22"]["parts"] = [
        {"id": "values", "points": 0.2345678, "max_points": 4.0}, {"id": "args", "points": 1.0, "max_points": 1.0}]
    text = report.table(rep)
    assert "5.00 / 5" in text and "1.23 / 5" in text and "6.23 / 10" in text
    assert "values 0.23 / 4; args 1.00 / 1" in text
    assert not re.search(r"\d\.\d{3,}|\d+\.0 /|/ \d+\.0\b", text), text
    assert report.score_text(19.7299, 100.0) == "19.73 / 100" and report.score_text(100, 100) == "100.00 / 100"
    from grader.gradescope import top_level_output
    assert top_level_output(rep).startswith("Score: 6.23 / 10 ")
