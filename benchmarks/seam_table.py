"""Before/after table for the detector-classifier seam from ``tools/evaluate_pipeline.py`` JSONs.

    python benchmarks/seam_table.py NAME=results/a.json NAME=results/b.json ... [--out results/seam.md]

One row per result (overall, then per camera): cell blast recall/precision, cell specificity,
slide sensitivity/specificity at the flag, blast % MAE, leukocyte count within 10%.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _ci(e: dict) -> str:
    if e.get("value") is None:
        return "n/a"
    lo, hi = e.get("ci95", [None, None])
    return f"{e['value']:.3f} [{lo:.3f}, {hi:.3f}]" if lo is not None else f"{e['value']:.3f}"


def _frac(e: dict) -> str:
    return f"{_ci(e)} ({e.get('k', '?')}/{e.get('n', '?')})" if e.get("value") is not None else "n/a"


def _mae(e: dict) -> str:
    return "n/a" if e.get("value") is None else f"{e['value']:.1f} [{e['lo']:.1f}, {e['hi']:.1f}]"


def rows(name: str, res: dict) -> list[str]:
    out = []
    for group, agg in [("all", res["overall"]), *res.get("by_camera", {}).items()]:
        out.append(
            f"| {name} | {group} | {agg['slides']} ({agg['all_slides']}/{agg['healthy_slides']}) | "
            f"{_frac(agg['cell_blast_recall'])} | {_frac(agg['cell_blast_precision'])} | "
            f"{_frac(agg['cell_specificity'])} | {_frac(agg['slide_sensitivity'])} | "
            f"{_frac(agg['slide_specificity'])} | {_mae(agg['blast_pct_mae'])} | "
            f"{_frac(agg['count_within_10pct'])} |"
        )
    return out


HEADER = (
    "| pipeline | slides | n (ALL/healthy) | cell blast recall | cell blast precision | cell specificity | "
    "slide sensitivity | slide specificity | blast % MAE (points) | count within 10% |\n"
    "|---|---|---|---|---|---|---|---|---|---|"
)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", nargs="+", help="NAME=path/to/evaluate_pipeline.json")
    ap.add_argument("--out", help="markdown file to write")
    a = ap.parse_args(argv)
    lines = [HEADER]
    for item in a.results:
        name, _, path = item.partition("=")
        lines += rows(name, json.loads(Path(path).read_text()))
    text = "\n".join(lines) + "\n"
    print(text)
    if a.out:
        Path(a.out).write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
