"""The batch summary of grade-many: ``summary.csv`` (one row per candidate) and ``summary.html``.

An *entry* is one candidate: ``{"candidate": str, "report": dict | None, "error": str}`` where
``report`` is the JSON report of ``llmgrade grade`` (``grader.grading.grade``) and ``error`` says why
there is none.

The HTML page is self-contained (inline CSS and JS, no CDN): a table of candidates x questions
whose colours make partial credit visible, sortable by any column; a click on a candidate opens a
details row with the points lost per question and rubric part and why (the failing tests' first
lines), the integrity flags, and every part's score.

Hook for other tools (narratives, similarity pairs): pass ``sections`` (shown below the table, for
the whole batch) and ``per_candidate`` ({candidate: [Section, ...]}, shown in that candidate's
details row) to ``summary_html`` / ``write_summary``; ``Section.text`` and ``Section.table`` escape
what they are given, ``Section(title, html)`` takes HTML the caller made safe; ``css`` (optional) is
added once to the page's style sheet.
"""
from __future__ import annotations

import csv
import html
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from .questions import all_questions

_EPS = 1e-9


@dataclass(frozen=True)
class Section:
    """A titled block of the HTML summary; ``html`` is inserted as is (make it safe first); ``css`` is
    added to the page's style sheet (once per distinct text)."""
    title: str
    html: str
    css: str = ""

    @classmethod
    def text(cls, title: str, text: str) -> "Section":
        paras = "".join(f"<p>{html.escape(p)}</p>" for p in text.split("\n\n") if p.strip())
        return cls(title, paras)

    @classmethod
    def table(cls, title: str, header: Sequence[str], rows: Iterable[Sequence[object]]) -> "Section":
        head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in r) + "</tr>" for r in rows)
        return cls(title, f"<table class=plain><tr>{head}</tr>{body}</table>")


def _fmt(v: object) -> str:
    return f"{v:.2f}" if isinstance(v, float) else str(v)


def graded_questions(entries: Sequence[Mapping]) -> list[str]:
    """The questions any report has, in the registry's order (all of them if there is no report)."""
    seen = {q for e in entries if e.get("report") for q in e["report"]["questions"]}
    return [q for q in all_questions() if q in seen] or list(all_questions())


# --- CSV -----------------------------------------------------------------------------------------

def csv_rows(entries: Sequence[Mapping]) -> tuple[list[str], list[dict]]:
    """(columns, rows): one row per candidate; points per question, total, integrity flags, error."""
    qids = graded_questions(entries)
    cols = ["candidate", "score", "max_score", *qids, "integrity_flags", "error"]
    rows = []
    for e in entries:
        rep = e.get("report")
        row = {"candidate": e["candidate"], "error": e.get("error", "")}
        row["score"] = f"{rep['score']:.4f}" if rep else ""
        row["max_score"] = f"{rep['max_score']:g}" if rep else ""
        row["integrity_flags"] = len(rep.get("integrity", [])) if rep else ""
        for q in qids:
            row[q] = f"{rep['questions'][q]['points']:.4f}" if rep and q in rep["questions"] else ""
        rows.append(row)
    return cols, rows


def write_csv(path: Path, entries: Sequence[Mapping]) -> None:
    cols, rows = csv_rows(entries)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        w.writerows(rows)


# --- HTML ----------------------------------------------------------------------------------------

def colour(frac: float | None) -> str:
    """CSS background for a share of the points: full marks green, anything less on a red -> amber ->
    yellow scale (so 4.86/5 is yellow, never the green of 5/5), no score grey. A bar shows the share."""
    if frac is None:
        return "background:#eee"
    if frac >= 1 - _EPS:
        return "background:hsl(125,50%,62%)"
    hue = 2 + 52 * max(0.0, frac)  # 0 -> red, 0.5 -> orange, 0.97 -> yellow
    pct = 100 * max(0.0, frac)
    return (f"background:linear-gradient(to right,hsl({hue:.0f},85%,70%) {pct:.1f}%,"
            f"hsl({hue:.0f},85%,88%) {pct:.1f}%)")


def _short(title: str) -> str:
    """The English half of a bilingual title ("Causal mask / 因果掩码" -> "Causal mask")."""
    return title.split(" / ")[0]


def _esc(s: object) -> str:
    return html.escape(str(s), quote=True)


def _first_line(msg: str, n: int = 300) -> str:
    line = (msg.strip().splitlines() or ["(no message)"])[0]
    return line if len(line) <= n else line[:n - 1] + "…"


def _lost_html(qid: str, q: Mapping) -> str:
    """One question where points were lost: its parts that lost points, with the failing tests."""
    lost = q["max_points"] - q["points"]
    out = [f"<div class=lostq><h4>{_esc(qid)} {_esc(q['title'])}: {q['points']:.2f} / {q['max_points']:g} "
           f"<span class=minus>(−{lost:.2f})</span></h4>"]
    parts = q.get("parts") or []
    notes = q.get("notes") or []
    if not q.get("passed") and notes and notes[0].startswith("not implemented yet"):  # an untouched stub
        return out[0][:-5] + f" {_esc(notes[0])}</h4></div>"
    rows = []
    for p in parts:
        if p["points"] >= p["max_points"] - _EPS:
            continue
        why = []
        failing = [t for t in q.get("tests", []) if t.get("part") == p["id"] and t["status"] != "passed"]
        for t in failing[:2]:
            name = t["nodeid"].split("::")[-1]
            why.append(f"<li><code>{_esc(name)}</code> {_esc(t['status'])}: {_esc(_first_line(t['message']))}</li>")
        if len(failing) > 2:
            why.append(f"<li>… and {len(failing) - 2} more failing test(s) of this part</li>")
        if p.get("gate") and p.get("gate_share", 1) < 1 and p["passed"]:
            why.append(f"<li>counts only together with correct values ({_esc(', '.join(p['gate']))}): "
                       f"{p['gate_share']:.0%} of it</li>")
        rows.append(f"<tr><td>{_esc(p['id'])}<div class=pt>{_esc(p['title'])}</div></td>"
                    f"<td class=num>{p['points']:.2f} / {p['max_points']:.2f}</td>"
                    f"<td class=num>{p['passed']}/{p['total']} tests</td><td><ul>{''.join(why)}</ul></td></tr>")
    if rows:
        out.append("<table class=parts><tr><th>part</th><th>points</th><th>passed</th><th>why points were lost</th>"
                   "</tr>" + "".join(rows) + "</table>")
    if notes:
        more = f"<li>… {len(notes) - 8} more: see the JSON report</li>" if len(notes) > 8 else ""
        out.append(f"<details class=notes><summary>every kind of failure of {_esc(qid)} ({len(notes)})</summary><ul>"
                   + "".join(f"<li>{_esc(n)}</li>" for n in notes[:8]) + more + "</ul></details>")
    out.append("</div>")
    return "".join(out)


def _parts_table(rep: Mapping, qids: Sequence[str]) -> str:
    rows = []
    for qid in qids:
        q = rep["questions"].get(qid)
        if not q:
            continue
        for i, p in enumerate(q.get("parts") or []):
            frac = p["points"] / p["max_points"] if p["max_points"] else None
            head = f"<td rowspan={len(q['parts'])}>{_esc(qid)} {_esc(_short(q['title']))}</td>" if i == 0 else ""
            rows.append(f"<tr>{head}<td>{_esc(p['id'])}</td><td class=num style='{colour(frac)}'>"
                        f"{p['points']:.2f} / {p['max_points']:.2f}</td><td class=num>{p['passed']}/{p['total']}</td></tr>")
    return ("<table class=parts><tr><th>question</th><th>part</th><th>points</th><th>tests passed</th></tr>"
            + "".join(rows) + "</table>")


def _details(e: Mapping, qids: Sequence[str], extra: Sequence[Section]) -> str:
    rep = e.get("report")
    name = e["candidate"]
    if rep is None:
        body = f"<p class=err>Could not be graded: {_esc(e.get('error') or 'unknown error')}</p>"
    else:
        lost = [(q, rep["questions"][q]) for q in qids
                if q in rep["questions"] and rep["questions"][q]["points"] < rep["questions"][q]["max_points"] - _EPS]
        body = (f"<p class=about><b>{_esc(name)}</b>: {rep['score']:.2f} / {rep['max_score']:g} points; graded in {rep.get('seconds', 0):.0f} s"
                + (f" on {_esc(rep['graded_on'])}" if rep.get("graded_on") else "")
                + f"; isolation: {_esc(rep.get('isolation', '?'))}"
                + ("" if rep.get("timing_tests", True) else "; timing tests skipped")
                + f". Full report: <a href='reports/{_esc(name)}.json'>reports/{_esc(name)}.json</a></p>")
        if lost:
            body += "<h3>Where points were lost</h3>" + "".join(_lost_html(q, v) for q, v in lost)
        else:
            body += "<p class=full>Full marks on every question graded.</p>"
        flags = rep.get("integrity", [])
        if flags:
            body += ("<h3>Integrity notes (for review, not scored)</h3><ul class=flags>" + "".join(
                f"<li>{_esc(f.get('qid', ''))} line {_esc(f.get('line', '?'))}: {_esc(f.get('what', ''))} "
                f"<code>{_esc(_first_line(str(f.get('detail', '')), 120))}</code></li>" for f in flags) + "</ul>")
        body += f"<details><summary>Every rubric part</summary>{_parts_table(rep, qids)}</details>"
    for s in extra:
        body += f"<section class=extra><h3>{_esc(s.title)}</h3>{s.html}</section>"
    return body


_CSS = """
body{font:14px/1.4 system-ui,-apple-system,'Segoe UI',Roboto,'Noto Sans','Noto Sans CJK SC',sans-serif;margin:1.2em;color:#222}
h1{font-size:1.5em;margin:.2em 0}h3{margin:.8em 0 .3em}h4{margin:.6em 0 .2em;font-size:1em}
.meta{color:#555;margin:.2em 0 .8em}
table.grid{border-collapse:collapse}
.grid th,.grid td{border:1px solid #d4d4d4;padding:3px 5px}
.grid thead th{background:#f4f4f4;cursor:pointer;vertical-align:top;text-align:center;user-select:none;position:sticky;top:0}
.grid thead th:hover{background:#e6eefc}
.grid thead th .qt{display:block;font-weight:normal;font-size:11px;color:#555;max-width:6.5em;margin:auto;white-space:normal}
.grid th.sorted-asc::after{content:' ▲';font-size:10px}.grid th.sorted-desc::after{content:' ▼';font-size:10px}
.grid td.num,.num{text-align:right;font-variant-numeric:tabular-nums}
.grid tr.row{cursor:pointer}.grid tr.row:hover td{outline:1px solid #89a}
.grid tr.row td.name{font-weight:600;text-align:left;white-space:nowrap}
.grid tr.row td.name::before{content:'▸ ';color:#888}.grid tbody.open tr.row td.name::before{content:'▾ '}
.grid tr.details td{background:#fbfbfb;padding:.4em 1em 1em}
.grid tr.details{display:none}.grid tbody.open tr.details{display:table-row}
.err{color:#b00}.full{color:#176b2c}.minus{color:#b00;font-weight:normal}
.flag{color:#a35c00;font-weight:600}
table.parts,table.plain,table.key{border-collapse:collapse;margin:.3em 0}
.parts td,.parts th,.plain td,.plain th,.key td,.key th{border:1px solid #ddd;padding:2px 6px;vertical-align:top;text-align:left}
.parts ul{margin:0;padding-left:1.1em}.pt{font-size:11px;color:#666}.parts td:first-child{max-width:16em}
.legend span{display:inline-block;padding:1px 8px;margin-right:4px;border:1px solid #ccc}
code{font-size:12px;background:#f1f1f1;padding:0 2px}
section.extra{margin-top:1em}
.about{font-size:12px;color:#555;max-width:90em}.dwrap{max-width:75em}
.notes{margin:.1em 0 .4em;font-size:13px}.notes summary{cursor:pointer;color:#555}
.lostq h4 .pt{display:inline}
"""

_JS = """
(function(){
  var table=document.querySelector('table.grid');
  function key(tb,col){var c=tb.querySelector('tr.row [data-col="'+col+'"]');
    if(!c)return '';var v=c.getAttribute('data-v');return v===null?c.textContent.trim().toLowerCase():parseFloat(v);}
  function sortBy(col,dir){
    var tbs=Array.prototype.slice.call(table.tBodies);
    tbs.sort(function(a,b){var x=key(a,col),y=key(b,col);
      if(typeof x==='number'&&isNaN(x))return 1; if(typeof y==='number'&&isNaN(y))return -1;
      return (x<y?-1:x>y?1:0)*dir;});
    tbs.forEach(function(tb){table.appendChild(tb);});
    table.querySelectorAll('thead th').forEach(function(th){th.classList.remove('sorted-asc','sorted-desc');
      if(th.getAttribute('data-col')===col)th.classList.add(dir>0?'sorted-asc':'sorted-desc');});
    table.setAttribute('data-sorted',col+(dir>0?'':'-desc'));
  }
  function setHash(){var h=[],s=table.getAttribute('data-sorted');if(s)h.push('sort='+s);
    var o=Array.prototype.map.call(table.querySelectorAll('tbody.open'),function(tb){return tb.getAttribute('data-name');});
    if(o.length)h.push('open='+o.map(encodeURIComponent).join(','));
    history.replaceState(null,'',h.length?'#'+h.join('&'):location.pathname);}
  table.querySelectorAll('thead th[data-col]').forEach(function(th){th.addEventListener('click',function(){
    var col=th.getAttribute('data-col'),now=table.getAttribute('data-sorted');
    var dir=(now===col)?-1:(now===col+'-desc'?1:(th.classList.contains('text')?1:-1));
    sortBy(col,dir);setHash();});});
  table.querySelectorAll('tr.row').forEach(function(tr){tr.addEventListener('click',function(){
    tr.parentNode.classList.toggle('open');setHash();});});
  // #sort=q21-desc&open=alice,bob : a link to a sorted page with some candidates opened
  location.hash.replace(/^#/,'').split('&').forEach(function(kv){var p=kv.split('=');
    if(p[0]==='sort'&&p[1]){var d=/-desc$/.test(p[1]);sortBy(p[1].replace(/-desc$/,''),d?-1:1);}
    if(p[0]==='open'&&p[1])p[1].split(',').forEach(function(n){n=decodeURIComponent(n);
      table.querySelectorAll('tbody').forEach(function(tb){if(tb.getAttribute('data-name')===n)tb.classList.add('open');});});});
  table.setAttribute('data-ready','1');
})();
"""


def summary_html(entries: Sequence[Mapping], *, sections: Sequence[Section] = (),
                 per_candidate: Mapping[str, Sequence[Section]] | None = None, note: str = "") -> str:
    """The HTML summary of ``entries`` (see the module docstring), with optional extra sections."""
    per_candidate = per_candidate or {}
    registry = all_questions()
    qids = graded_questions(entries)
    max_total = sum(registry[q].points for q in qids)
    ncols = 4 + len(qids)
    head = ("<th data-col=candidate class=text>candidate</th><th data-col=score>total</th>"
            + "".join(f"<th data-col={q} title='{_esc(registry[q].title)} ({registry[q].points:g} points)'>{q}"
                      f"<span class=qt>{_esc(_short(registry[q].title))}</span></th>" for q in qids)
            + "<th data-col=flags title='integrity flags to review (not scored)'>flags</th>")
    bodies = []
    for e in entries:
        rep, name = e.get("report"), e["candidate"]
        cells = [f"<td class=name data-col=candidate>{_esc(name)}</td>"]
        if rep is None:
            cells.append(f"<td class='num err' data-col=score data-v=-1>error</td>")
            cells += [f"<td data-col={q} data-v=-1 style='{colour(None)}'></td>" for q in qids]
            cells.append("<td data-col=flags data-v=-1></td>")
        else:
            frac = rep["score"] / rep["max_score"] if rep["max_score"] else None
            cells.append(f"<td class=num data-col=score data-v={rep['score']:.4f} style='{colour(frac)}'>"
                         f"<b>{rep['score']:.2f}</b> / {rep['max_score']:g}</td>")
            for q in qids:
                v = rep["questions"].get(q)
                if v is None:
                    cells.append(f"<td data-col={q} data-v=-1 style='{colour(None)}'>–</td>")
                    continue
                f = v["points"] / v["max_points"] if v["max_points"] else None
                tip = "; ".join(f"{p['id']} {p['points']:.2f}/{p['max_points']:.2f}" for p in v.get("parts") or [])
                mark = " ⚑" if v.get("integrity") else ""
                cells.append(f"<td class=num data-col={q} data-v={v['points']:.4f} style='{colour(f)}' "
                             f"title='{_esc(tip)}'>{v['points']:.2f}{mark}</td>")
            nflags = len(rep.get("integrity", []))
            cells.append(f"<td class='num flag' data-col=flags data-v={nflags}>{'⚑ ' + str(nflags) if nflags else ''}</td>")
        details = _details(e, qids, per_candidate.get(name, ()))
        bodies.append(f"<tbody data-name='{_esc(name)}'><tr class=row>{''.join(cells)}</tr>"
                      f"<tr class=details><td colspan={ncols}><div class=dwrap>{details}</div></td></tr></tbody>")
    # the question key: full titles, points, how the batch did
    key_rows = []
    for q in qids:
        got = [e["report"]["questions"][q]["points"] for e in entries
               if e.get("report") and q in e["report"]["questions"]]
        mean = sum(got) / len(got) if got else None
        full = sum(1 for g in got if g >= registry[q].points - _EPS)
        key_rows.append(f"<tr><td>{q}</td><td>{_esc(registry[q].title)}</td><td class=num>{registry[q].points:g}</td>"
                        f"<td class=num style='{colour(mean / registry[q].points if mean is not None else None)}'>"
                        f"{'' if mean is None else f'{mean:.2f}'}</td><td class=num>{full}/{len(got)}</td></tr>")
    legend = ("<p class=legend>Colours: <span style='" + colour(1.0) + "'>full marks</span>"
              + "".join(f"<span style='{colour(f)}'>{f:.0%}</span>" for f in (0.97, 0.75, 0.5, 0.25))
              + f"<span style='{colour(0.0)}'>0</span><span style='{colour(None)}'>not graded</span>"
              " The darker band is the share of the points earned. ⚑ = integrity flag to review."
              " Click a column to sort, a candidate to see what was lost and why.</p>")
    styles = list(dict.fromkeys(s.css for s in [*sections, *(x for v in per_candidate.values() for x in v)] if s.css))
    extra = "".join(f"<section class=extra><h2>{_esc(s.title)}</h2>{s.html}</section>" for s in sections)
    graded = sum(1 for e in entries if e.get("report"))
    return ("<!doctype html><html lang=en><head><meta charset=utf-8>"
            "<meta name=viewport content='width=device-width,initial-scale=1'><title>Grades</title>"
            f"<style>{_CSS}{''.join(styles)}</style></head><body><h1>Grades</h1>"
            f"<p class=meta>{len(entries)} candidates ({graded} graded), {len(qids)} questions, "
            f"{max_total:g} points{'; ' + _esc(note) if note else ''}.</p>{legend}"
            f"<table class=grid><thead><tr>{head}</tr></thead>{''.join(bodies)}</table>"
            f"<h2>Questions</h2><table class=key><tr><th>question</th><th>title</th><th>points</th>"
            f"<th>mean</th><th>full marks</th></tr>{''.join(key_rows)}</table>{extra}"
            f"<script>{_JS}</script></body></html>")


def write_summary(out: Path, entries: Sequence[Mapping], *, sections: Sequence[Section] = (),
                  per_candidate: Mapping[str, Sequence[Section]] | None = None, note: str = "") -> tuple[Path, Path]:
    """Write ``out/summary.csv`` and ``out/summary.html``; return their paths."""
    out = Path(out)
    write_csv(out / "summary.csv", entries)
    page = summary_html(entries, sections=sections, per_candidate=per_candidate, note=note)
    (out / "summary.html").write_text(page, encoding="utf-8")
    return out / "summary.csv", out / "summary.html"


def load_entries(out: Path) -> list[dict]:
    """Entries from a grade-many output folder's reports (to re-render a summary with extra sections)."""
    return [{"candidate": p.stem, "report": json.loads(p.read_text(encoding="utf-8")), "error": ""}
            for p in sorted((Path(out) / "reports").glob("*.json"))]
