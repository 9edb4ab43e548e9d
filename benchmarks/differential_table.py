"""Tables of the differential runs (benchmarks/differential.sh) from their run folders.

    python benchmarks/differential_table.py runs/classify/types_hc_svm_pbc runs/classify/types_hc_svm_pbc_bccd ...

Per run: PBC held-out test accuracy (and per-class recall), BCCD val per-cell type
accuracy / balanced accuracy / per-class recall with 95% Wilson CIs and n, per-image
agreement and mean differential error (from ``bccd_val.json``, evaluate-pipeline --data bccd).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def _ci(e: dict) -> str:
    v, (lo, hi) = e["value"], e["ci95"]
    return "n/a" if v is None else f"{v:.3f} [{lo:.3f}, {hi:.3f}]"


def row(run: Path) -> list[str]:
    m = json.loads((run / "metrics.json").read_text())
    pbc = next((m[k] for k in ("test:pbc_crops", "test") if k in m and "pbc" in str(m.get("data"))), None)
    b = json.loads((run / "bccd_val.json").read_text()) if (run / "bccd_val.json").is_file() else None
    out = [run.name, str(m.get("data")), _ci(pbc["accuracy"]) + f" n={pbc['n']}" if pbc else "-"]
    if b:
        pc, pi = b["per_cell"], b["per_image"]
        out += [
            _ci(pc["accuracy"]) + f" n={b['n_cells']}",
            f"{pc['balanced_accuracy']:.3f}",
            "; ".join(f"{k} {v['value']:.2f} ({v['n']})" for k, v in pc["recall"].items()),
            f"{pi['agreement']['k']}/{pi['agreement']['n']}",
            f"{pi['diff_error_pts_mean']}",
        ]
    return out


def main(runs: list[str]) -> None:
    head = [
        "run",
        "training data",
        "PBC test accuracy [95% CI]",
        "BCCD val per-cell accuracy [95% CI]",
        "BCCD balanced",
        "BCCD recall per class (n)",
        "images all right",
        "diff. error (pts)",
    ]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in runs:
        cells = row(Path(r))
        print("| " + " | ".join(cells + ["-"] * (len(head) - len(cells))) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
