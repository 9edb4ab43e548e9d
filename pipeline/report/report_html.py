"""``report.html`` for a batch: warnings, totals, the slide-call rule, provenance, one sortable
row per slide, then one review section per slide.

The slides table is compact (it fits the window): key, thumbnail, counts, blast % with its
interval, uncertain cells, the slide call (``FLAG``, ``clear``, or a highlighted review
status: ``borderline``, ``insufficient cells``, ``no leukocytes``). Clicking a column header
sorts by it; ``report.html#sort=blast_pct`` opens sorted by blast % (highest first). Each
slide's section shows the annotated image (cell ids = the cells table's ``cell_id``), a
gallery of its cell crops sorted by uncertainty (:mod:`leukoscan.pipeline.report.gallery`) and its cells
table. Rendered by a Jinja2 template with autoescape; every link goes through :func:`href`.
One self-contained file (inline CSS and a few lines of JS), paths relative to the report.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jinja2
import markupsafe

from leukoscan.encode import url_path
from leukoscan.io import atomic_write_text
from leukoscan.pipeline.infer.provenance import model_warnings
from leukoscan.pipeline.report.differential import html_section
from leukoscan.pipeline.report.gallery import CROP_PX, review_order, sheet_offset
from leukoscan.pipeline.report.slide_stats import FLAG, NOT_ASSESSED, REVIEW
from leukoscan.pipeline.report.summary import SlideRules, SlideSummary

#: Crops shown per slide in the gallery (the most uncertain first; all are in the cells table).
GALLERY_MAX = 120


def href(path: str) -> str:
    """The one place a link or image path of the report is built (relative to the report):
    percent-encoded, never a scheme (:func:`leukoscan.encode.url_path`)."""
    return url_path(path)


_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>LeukoScan report</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font-family:system-ui,sans-serif;margin:1.2em;color:#222;max-width:100%;overflow-wrap:anywhere}
h1{margin:0 0 .2em}.warn{color:#a00;font-weight:bold;margin:.2em 0 1em}
.modelwarn{border:2px solid #b00;background:#fee;color:#800;padding:.5em 1em;margin:.5em 0 1em;border-radius:6px}
.totals{display:flex;gap:1em;flex-wrap:wrap;margin-bottom:1em}
.tot{border:1px solid #ccc;border-radius:6px;padding:.5em 1em;min-width:7em;background:#fafafa}
.tot b{display:block;font-size:1.6em}.tot.alert b{color:#b00}
table{border-collapse:collapse;width:100%}td,th{border:1px solid #ccc;padding:4px 6px;vertical-align:top}
#slides th{background:#eee;cursor:pointer;user-select:none;overflow-wrap:normal}
#slides{font-size:.92em}#slides th.sorted{background:#dde}
tr.flagged td.pct,td.call.flag{color:#b00;font-weight:bold}
tr.review{background:#fff4d6}td.call.review{color:#a60;font-weight:bold}
table.cells{table-layout:fixed}table.cells td,table.cells th{font-size:.8em;padding:1px 3px}
tr.uncertain{background:#fff4d6}
.prov{font-family:monospace;font-size:.9em;background:#f4f4f4;padding:.5em;border-radius:4px}
td.num{text-align:right}img{max-width:100%;height:auto}
section.slide{border-top:2px solid #999;margin-top:1.5em;padding-top:.5em}
.gallery{display:flex;flex-wrap:wrap;gap:6px;margin:.5em 0}
.crop{width:{{ crop_px }}px;font-size:.75em;text-align:center;border:2px solid #ccc;border-radius:4px}
.crop.blast{border-color:#d7191c}.crop.normal{border-color:#1e64dc}.crop.unsure{outline:3px dashed #e69b00}
.crop .win{width:{{ crop_px }}px;height:{{ crop_px }}px;overflow:hidden}
.crop .win img{max-width:none;display:block}
</style></head><body>
<h1>LeukoScan report</h1><p class="warn">Research tool: not for diagnosis.</p>
{% if warnings %}<div class="modelwarn" id="model-warnings"><b>Do not trust these results as they are:</b>
<ul>{% for w in warnings %}<li>{{ w }}</li>{% endfor %}</ul></div>{% endif %}
<div class="totals" id="totals">{% for label, value, alert in totals %}
<div class="tot{{ ' alert' if alert }}"><b>{{ value }}</b>{{ label }}</div>{% endfor %}</div>
<p id="rule"><b>How a slide is called:</b> {{ rule }}. The 95% interval of blast % covers counting and the
uncertainty of each call (Poisson-binomial over the cells' blast probabilities). Rows in yellow need a person:
no leukocytes, too few to call, borderline, or cells near the threshold.</p>
<h2>Provenance</h2><div class="prov" id="provenance">{% for line in prov_lines %}{{ line }}<br>{% endfor %}</div>
<details><summary>all settings (JSON)</summary><pre>{{ prov_json }}</pre></details>
<h2>Slides</h2><p>Click a column header to sort (blast % sorts highest first). Click a slide for its review
section: annotated image, cell crops (most uncertain first) and cells table.</p>
<table id="slides"><thead><tr>{% for c in columns %}{% if c.key %}<th data-col="{{ loop.index0 }}" data-key="{{ c.key }}">{{ c.title }}</th>{% else %}<th>{{ c.title }}</th>{% endif %}{% endfor %}</tr></thead>
<tbody>{% for s in slides %}<tr class="{{ s.row_class }}">
<td data-sort="{{ s.key }}"><a href="#{{ s.anchor }}"><b>{{ s.key }}</b></a><br><small>{{ s.source }}</small></td>
<td><a href="{{ s.annotated|href }}"><img src="{{ s.thumb|href }}" width="160" alt="annotated {{ s.key }}"></a></td>
<td class="num" data-sort="{{ s.leukocytes }}">{{ s.leukocytes }}</td>
<td class="num" data-sort="{{ s.blasts_sort }}">{{ s.blasts_text }}</td>
<td class="num pct" data-sort="{{ s.pct_sort }}">{{ s.pct_text }}</td>
<td>{{ s.ci_text }}</td>
<td class="num" data-sort="{{ s.uncertain_sort }}">{{ s.uncertain_text }}</td>
<td class="call {{ s.call_class }}" data-sort="{{ s.call_rank }}">{{ s.call_text }}</td>
{% if with_call_by %}<td>{{ s.call_by }}</td>{% endif %}
<td><a href="{{ s.cells_csv|href }}">CSV</a> &middot; <a href="{{ s.cells_json|href }}">JSON</a></td></tr>{% endfor %}
</tbody></table>
{{ differential_html }}
{% if failures %}<h2>Failed inputs</h2><ul id="failures">{% for n, m in failures %}<li>{{ n }}: {{ m }}</li>{% endfor %}</ul>{% endif %}
<h2>Review, slide by slide</h2>
{% for s in slides %}<section class="slide" id="{{ s.anchor }}"><h3>{{ s.key }}: {{ s.call_text }}</h3>
<p>{{ s.words }}</p>
<a href="{{ s.annotated|href }}"><img src="{{ s.annotated|href }}" alt="annotated {{ s.key }}" loading="lazy"></a>
{% if s.gallery %}<h4>Cells to review, most uncertain first ({{ s.gallery|length }}{% if s.gallery_more %} of {{ s.gallery|length + s.gallery_more }}{% endif %})</h4>
<div class="gallery">{% for c in s.gallery %}<figure class="crop {{ c.call }}{{ ' unsure' if c.unsure }}" style="margin:0" data-cell="{{ c.id }}">
<div class="win"><img src="{{ s.crops|href }}" alt="cell {{ c.id }}" loading="lazy" style="margin-left:-{{ c.x }}px;margin-top:-{{ c.y }}px"></div>
<figcaption>#{{ c.id }} {{ c.call }}{% if c.conf is not none %} {{ '%.2f'|format(c.conf) }}{% endif %}{{ ' ?' if c.unsure }}</figcaption></figure>{% endfor %}</div>{% endif %}
{% if s.cells is not none %}<details><summary>cells table ({{ s.cells|length }} row{{ '' if s.cells|length == 1 else 's' }})</summary>{% if s.cells %}
<table class="cells"><tr>{% for c in s.cell_cols %}<th>{{ c }}</th>{% endfor %}</tr>
{% for r in s.cells %}<tr class="{{ 'uncertain' if r.get('review') }}">{% for c in s.cell_cols %}<td>{{ '' if r.get(c) is none else r.get(c) }}</td>{% endfor %}</tr>{% endfor %}
</table>{% else %}<p>no leukocytes found</p>{% endif %}</details>{% endif %}
</section>{% endfor %}
<script>{{ js|safe }}</script></body></html>
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

_ENV = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
_ENV.filters["href"] = href

#: Sort rank of a slide call (high = needs attention first).
_CALL_RANK = {FLAG: 5, "borderline": 4, "insufficient cells": 3, "no leukocytes": 3, NOT_ASSESSED: 1, "clear": 0}


def _status(s: dict[str, Any]) -> str:
    """The slide call; summaries written before issue 21 have no ``status``."""
    if s.get("status"):
        return s["status"]
    return (
        "no leukocytes"
        if s["leukocytes"] == 0
        else FLAG
        if s.get("flagged")
        else NOT_ASSESSED
        if s.get("blast_pct") is None
        else "clear"
    )


def _gallery(rows: list[dict[str, Any]] | None, threshold: float, band: float) -> list[dict[str, Any]]:
    out = []
    for r in review_order(rows or [], threshold):
        x, y = sheet_offset(r["cell_id"])
        p = r.get("blast_prob")
        out.append(
            {
                "id": r["cell_id"],
                "call": r.get("cell_class", ""),
                "conf": r.get("call_conf"),
                "x": x,
                "y": y,
                "unsure": p is not None and abs(float(p) - threshold) < band,
            }
        )
    return out


def _slide(
    i: int, rec: dict[str, Any], cells: list[dict[str, Any]] | None, threshold: float, band: float
) -> dict[str, Any]:
    s, o = rec["summary"], rec["outputs"]
    status = _status(s)
    pct, (lo, hi) = s.get("blast_pct"), s.get("blast_pct_ci95") or (None, None)
    assessed = s.get("blasts") is not None and status != NOT_ASSESSED
    review = status in REVIEW or bool(s.get("uncertain"))
    gallery = _gallery(cells, threshold, band) if o.get("crops") else []
    return {
        "key": rec["key"],
        "source": rec["source"],
        "anchor": f"slide-{i + 1}",
        "leukocytes": s["leukocytes"],
        "blasts_sort": s["blasts"] if assessed else "",
        "blasts_text": s["blasts"] if assessed else "not assessed",
        "pct_sort": "" if pct is None else pct,
        "pct_text": f"{pct:.1f}" if pct is not None else ("not assessed" if not assessed and s["leukocytes"] else ""),
        "ci_text": "" if lo is None else f"{lo:.1f}\u2013{hi:.1f}",
        "uncertain_sort": "" if s.get("uncertain") is None else s["uncertain"],
        "uncertain_text": "" if s.get("uncertain") is None else s["uncertain"],
        "call_text": {FLAG: f"FLAG (\u2265 {s['flag_pct']:g}% blasts)"}.get(status, status),
        "call_class": "flag" if status == FLAG else "review" if status in REVIEW else "",
        "call_rank": _CALL_RANK.get(status, 2),
        "call_by": s.get("call_by") or "",
        "row_class": " ".join(c for c, on in (("flagged", status == FLAG), ("review", review)) if on),
        "annotated": o["annotated"],
        "thumb": o["thumb"],
        "cells_csv": o["cells_csv"],
        "cells_json": o["cells_json"],
        "crops": o.get("crops", ""),
        "words": SlideSummary.from_dict(s).words() if "status" in s else "",
        "gallery": gallery[:GALLERY_MAX],
        "gallery_more": max(0, len(gallery) - GALLERY_MAX),
        "cells": cells,
        "cell_cols": list(cells[0]) if cells else [],
    }


def totals(records: list[dict[str, Any]], n_failed: int) -> dict[str, Any]:
    """Batch totals: slides, flagged, to review, leukocytes, blasts, pooled blast %, failed inputs."""
    sums = [r["summary"] for r in records]
    leuk = sum(s["leukocytes"] for s in sums)
    assessed = [s for s in sums if s.get("blast_pct") is not None and s.get("blasts") is not None]
    blasts = sum(s["blasts"] for s in assessed)
    n_assessed = sum(s["leukocytes"] for s in assessed)
    return {
        "slides": len(sums),
        "flagged": sum(_status(s) == FLAG for s in sums),
        "review": sum(_status(s) in REVIEW or bool(s.get("uncertain")) for s in sums),
        "leukocytes": leuk,
        "blasts": blasts if assessed or not sums else None,
        "blast_pct_pooled": round(100.0 * blasts / n_assessed, 2) if n_assessed else None,
        "uncertain_cells": sum(s.get("uncertain") or 0 for s in sums),
        "no_leukocytes": sum(s["leukocytes"] == 0 for s in sums),
        "failed": n_failed,
    }


def write_report(
    path: Path,
    records: list[dict[str, Any]],
    failures: list[tuple[str, str]],
    provenance: dict[str, Any],
    prov_lines: list[str],
    cells: dict[str, list[dict[str, Any]]] | None = None,
) -> None:
    """Write the batch report. ``records``: manifest slide records (``key``, ``source``,
    ``summary``, ``outputs`` with paths relative to the report); ``cells``: rows by key."""
    t = totals(records, len(failures))
    th = provenance.get("thresholds", {})
    threshold, band = float(th.get("blast_threshold", 0.5)), float(th.get("uncertain_band", 0.15))
    rule = SlideRules(
        **{k: th[k] for k in ("flag_pct", "min_cells", "flag_rule", "uncertain_band") if th.get(k) is not None}
    )
    pooled = "not assessed" if t["blast_pct_pooled"] is None else f"{t['blast_pct_pooled']:.1f}%"
    boxes = [
        ("slides", t["slides"], False),
        ("flagged", t["flagged"], t["flagged"] > 0),
        ("to review", t["review"], t["review"] > 0),
        ("leukocytes", t["leukocytes"], False),
        ("blasts", "not assessed" if t["blasts"] is None else t["blasts"], False),
        ("blast % (pooled)", pooled, False),
        ("uncertain cells", t["uncertain_cells"], False),
        ("no leukocytes", t["no_leukocytes"], t["no_leukocytes"] > 0),
        ("failed inputs", t["failed"], t["failed"] > 0),
    ]
    with_call_by = any(r["summary"].get("call_by") for r in records)
    columns = [
        ("Slide", "slide"),
        ("Annotated", ""),
        ("Leukocytes", "leukocytes"),
        ("Blasts", "blasts"),
        ("Blast %", "blast_pct"),
        ("95% CI", ""),
        ("Uncertain", "uncertain"),
        ("Call", "call"),
    ]
    columns += [("Calls by", "call_by")] if with_call_by else []
    columns.append(("Files", ""))
    doc = _ENV.from_string(_TEMPLATE).render(
        warnings=model_warnings(provenance),
        totals=boxes,
        rule=rule.describe(),
        prov_lines=prov_lines,
        prov_json=json.dumps(provenance, indent=2),
        columns=[{"title": a, "key": b} for a, b in columns],
        with_call_by=with_call_by,
        slides=[_slide(i, r, (cells or {}).get(r["key"]), threshold, band) for i, r in enumerate(records)],
        failures=failures,
        crop_px=CROP_PX,
        js=_JS,
        differential_html=markupsafe.Markup(html_section(records)),
    )  # escaped where it is built
    atomic_write_text(path, doc)


__all__ = ["GALLERY_MAX", "href", "totals", "write_report"]
