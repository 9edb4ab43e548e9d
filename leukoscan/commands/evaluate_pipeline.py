"""End-to-end evaluation on ALL-IDB1 slides (cells vs centroids, slide-level ALL calls).

    leukoscan evaluate-pipeline [--detector W] [--classifier W] [--data all_idb1] [--split val]

(``python tools/evaluate_pipeline.py ...`` is the same command.) Exit code 2 on a missing
model or dataset.
"""

from __future__ import annotations

import argparse

from leukoscan.app.evaluate import evaluate_pipeline
from leukoscan.app.pipeline import PipelineConfig, load_pipeline
from leukoscan.cli import user_errors
from leukoscan.data import resolve
from leukoscan.device import resolve_device
from leukoscan.io import atomic_write_json


def get_args_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--detector", help="detector run folder or weights (default: newest run)")
    ap.add_argument("--classifier", help="classifier run folder or weights (default: newest run)")
    ap.add_argument("--data", default="all_idb1", help="dataset name or prepared folder")
    ap.add_argument("--data-root", help="raw data root (default: $LEUKOSCAN_DATA or ./datasets)")
    ap.add_argument("--split", default="val")
    ap.add_argument("--flag-pct", type=float, default=20.0, help="call ALL when blast %% >= this")
    ap.add_argument("--margin", type=float, default=0.15, help="crop margin per side, as a fraction of the box side")
    ap.add_argument("--conf", type=float, default=0.25)
    ap.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:1, 1")
    ap.add_argument("--out", help="JSON file for the results")
    return ap


@user_errors
def main(argv: list[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    device = resolve_device(args.device)
    pipe = load_pipeline(args.detector, args.classifier, PipelineConfig(conf=args.conf, margin=args.margin))
    pipe.to(device)
    data_dir = resolve(args.data, data_root=args.data_root)
    res = evaluate_pipeline(pipe, data_dir, args.split, threshold_pct=args.flag_pct)
    for key, agg in [("all", res["overall"]), *res["by_image_size"].items()]:
        print(f"{key:>10}: slides {agg['slides']:3d}  cell blast recall {agg['cell_blast_recall']['value']}"
              f"  precision {agg['cell_blast_precision']['value']}  slide sens {agg['slide_sensitivity']['value']}"
              f"  spec {agg['slide_specificity']['value']}  blast% MAE {agg['blast_pct_mae']}")
    if args.out:
        atomic_write_json(args.out, res)
        print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
