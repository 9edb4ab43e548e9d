"""``report.html`` for a batch: totals, provenance, one sortable row per slide.

Each row links the thumbnail to the full annotated image and to the slide's cells table
(CSV and JSON), and unfolds the table inline. Clicking a column header sorts by it;
``report.html#sort=blast_pct`` opens sorted by blast % (highest first). One self-contained
file (inline CSS and a few lines of JS), paths relative to the report.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from leukoscan.io import atomic_write_text
from leukoscan.pipeline.report.differential import html_section

_CSS = """
body{font-family:system-ui,sans-serif;margin:1.2em;color:#222}
h1{margin:0 0 .2em}.warn{color:#a00;font-weight:bold;margin:.2em 0 1em}
.totals{display:flex;gap:1em;flex-wrap:wrap;margin-bottom:1em}
.tot{border:1px solid #ccc;border-radius:6px;padding:.5em 1em;min-width:7em;background:#fafafa}
.tot b{display:block;font-size:1.6em}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 6px;vertical-align:top}
#slides th{background:#eee;cursor:pointer;user-select:none}#slides th.sorted{background:#dde}
tr.flagged td.pct,td.flag{color:#b00;font-weight:bold}
table.cells td,table.cells th{font-size:.85em;padding:1px 4px}
.prov{font-family:monospace;font-size:.9em;background:#f4f4f4;padding:.5em;border-radius:4px}
td.num{text-align:right}
"""

_JS = """
function sortBy(col, desc){
  const tb=document.querySelector('#slides tbody'); const rows=[...tb.rows];
  const key=r=>{const v=r.cells[col].dataset.sort; return v===undefined||v===''?null:
    (isNaN(+v)?v:+v)};
  rows.sort((a,b)=>{const x=key(a),y=key(b); if(x===null)return 1; if(y===null)return -1;
    return (x<y?-1:x>y?1:0)*(desc?-1:1)});
  rows.forEach(r=>tb.appendChild(r));
  document.querySelectorAll('#slides th').forEach((th,i)=>th.classList.toggle('sorted',i===col));
}
document.querySelectorAll('#slides th[data-col]').forEach(th=>{let desc=true;
  th.addEventListener('click',()=>{sortBy(+th.dataset.col,desc);desc=!desc;});});
const m=location.hash.match(/sort=([a-z_]+)/);
if(m){const th=document.querySelector(`#slides th[data-key=${m[1]}]`); if(th) sortBy(+th.dataset.col,true);}
"""


def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _cells_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "<p>no leukocytes found</p>"
    cols = list(rows[0])
    head = "".join(f"<th>{_e(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{'' if r.get(c) is None else _e(r.get(c))}</td>" for c in cols)
                   + "</tr>" for r in rows)
    return f"<table class=\"cells\"><tr>{head}</tr>{body}</table>"


def _row(rec: dict[str, Any], cells: list[dict[str, Any]] | None, with_call_by: bool) -> str:
    s, o = rec["summary"], rec["outputs"]
    pct = s.get("blast_pct")
    lo, hi = s.get("blast_pct_ci95") or (None, None)
    flag = f"&ge; {s['flag_pct']:g}% blasts" if s.get("flagged") else ""
    links = f"<a href=\"{_e(o['cells_csv'])}\">CSV</a> &middot; <a href=\"{_e(o['cells_json'])}\">JSON</a>"
    table = "" if cells is None else \
        f"<details><summary>{len(cells)} cells</summary>{_cells_table(cells)}</details>"
    call_by = f"<td>{_e(s.get('call_by') or '')}</td>" if with_call_by else ""
    return (f"<tr class=\"{'flagged' if s.get('flagged') else ''}\">"
            f"<td data-sort=\"{_e(rec['key'])}\"><b>{_e(rec['key'])}</b><br><small>{_e(rec['source'])}</small></td>"
            f"<td><a href=\"{_e(o['annotated'])}\"><img src=\"{_e(o['thumb'])}\" width=\"240\" "
            f"alt=\"annotated {_e(rec['key'])}\"></a><br><a href=\"{_e(o['annotated'])}\">full image</a></td>"
            f"<td class=\"num\" data-sort=\"{s['leukocytes']}\">{s['leukocytes']}</td>"
            f"<td class=\"num\" data-sort=\"{s['blasts']}\">{s['blasts']}</td>"
            f"<td class=\"num pct\" data-sort=\"{'' if pct is None else pct}\">"
            f"{'n/a' if pct is None else f'{pct:.1f}'}</td>"
            f"<td>{'n/a' if lo is None else f'{lo:.1f}&ndash;{hi:.1f}'}</td>"
            f"<td class=\"flag\" data-sort=\"{int(bool(s.get('flagged')))}\">{flag}</td>{call_by}"
            f"<td>{links}{table}</td></tr>")


def totals(records: list[dict[str, Any]], n_failed: int) -> dict[str, Any]:
    """Batch totals: slides, flagged slides, leukocytes, blasts, pooled blast %, failed inputs."""
    sums = [r["summary"] for r in records]
    leuk = sum(s["leukocytes"] for s in sums)
    assessed = [s for s in sums if s.get("blast_pct") is not None]
    blasts = sum(s["blasts"] for s in assessed)
    n_assessed = sum(s["leukocytes"] for s in assessed)
    return {"slides": len(sums), "flagged": sum(bool(s.get("flagged")) for s in sums), "leukocytes": leuk,
            "blasts": blasts, "blast_pct_pooled": round(100.0 * blasts / n_assessed, 2) if n_assessed else None,
            "no_leukocytes": sum(s["leukocytes"] == 0 for s in sums), "failed": n_failed}


def write_report(path: Path, records: list[dict[str, Any]], failures: list[tuple[str, str]],
                 provenance: dict[str, Any], prov_lines: list[str],
                 cells: dict[str, list[dict[str, Any]]] | None = None) -> None:
    """Write the batch report. ``records``: manifest slide records (``key``, ``source``,
    ``summary``, ``outputs`` with paths relative to the report); ``cells``: rows by key."""
    t = totals(records, len(failures))
    pooled = "n/a" if t["blast_pct_pooled"] is None else f"{t['blast_pct_pooled']:.1f}%"
    boxes = [("slides", t["slides"]), ("flagged", t["flagged"]), ("leukocytes", t["leukocytes"]),
             ("blasts", t["blasts"]), ("blast % (pooled)", pooled), ("no leukocytes", t["no_leukocytes"]),
             ("failed inputs", t["failed"])]
    tot = "".join(f"<div class=\"tot\"><b>{_e(v)}</b>{_e(k)}</div>" for k, v in boxes)
    with_call_by = any(r["summary"].get("call_by") for r in records)
    cols = ["Slide", "Annotated image", "Leukocytes", "Blasts", "Blast %", "95% CI", "Flag"]
    keys = ["slide", "", "leukocytes", "blasts", "blast_pct", "", "flag"]
    if with_call_by:
        cols.append("Calls by")
        keys.append("call_by")
    cols.append("Cells")
    keys.append("")
    head = "".join(f"<th data-col=\"{i}\" data-key=\"{k}\">{c}</th>" if k else f"<th>{c}</th>"
                   for i, (c, k) in enumerate(zip(cols, keys, strict=True)))
    rows = "".join(_row(r, (cells or {}).get(r["key"]), with_call_by) for r in records)
    fails = "".join(f"<li>{_e(n)}: {_e(m)}</li>" for n, m in failures)
    prov = "<br>".join(_e(x) for x in prov_lines)
    doc = (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>LeukoScan report</title>"
        f"<style>{_CSS}</style></head><body>"
        "<h1>LeukoScan report</h1><p class=\"warn\">Research tool: not for diagnosis.</p>"
        f"<div class=\"totals\" id=\"totals\">{tot}</div>"
        f"<h2>Provenance</h2><div class=\"prov\" id=\"provenance\">{prov}</div>"
        f"<details><summary>all settings (JSON)</summary><pre>{_e(json.dumps(provenance, indent=2))}</pre></details>"
        "<h2>Slides</h2><p>Click a column header to sort (blast % sorts highest first). A label on an "
        "annotated image reads \"blast 0.91\": the call and the confidence of that call.</p>"
        f"<table id=\"slides\"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
        + html_section(records)
        + (f"<h2>Failed inputs</h2><ul id=\"failures\">{fails}</ul>" if failures else "")
        + f"<script>{_JS}</script></body></html>\n")
    atomic_write_text(path, doc)


__all__ = ["totals", "write_report"]
