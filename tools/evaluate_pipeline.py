"""End-to-end evaluation on ALL-IDB1 slides (cells vs centroids, slide-level ALL calls).

    leukoscan evaluate-pipeline [--detector W] [--classifier W] [--data all_idb1] [--split val]

(``python tools/evaluate_pipeline.py ...`` is the same command.) Exit code 2 on a missing
model or dataset.
"""

from __future__ import annotations

import argparse

from leukoscan.data import resolve
from leukoscan.io import atomic_write_json
from leukoscan.pipeline.infer.cascade import load_pipeline
from leukoscan.pipeline.infer.provenance import provenance, provenance_lines
from leukoscan.pipeline.train.end_to_end import evaluate_pipeline
from leukoscan.tools.common import user_errors
from leukoscan.tools.pipeline_args import add_pipeline_args, typed_settings


def get_args_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--detector", help="detector run folder or weights (default: newest run)")
    ap.add_argument("--classifier", help="classifier run folder or weights (default: newest run)")
    ap.add_argument("--pipeline", help="a train-all-pipeline run folder (detector, classifier, fusion, thresholds)")
    ap.add_argument("--no-classifier", action="store_true",
                    help="detector only: blasts from the detector's own blast class")
    ap.add_argument("--data", default="all_idb1", help="dataset name or prepared folder")
    ap.add_argument("--data-root", help="raw data root (default: $LEUKOSCAN_DATA or ./datasets)")
    ap.add_argument("--split", default="val")
    ap.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda:0 or 0: both stages")
    add_pipeline_args(ap)
    ap.add_argument("--out", help="JSON file for the results")
    ap.add_argument("--trust-model", action="store_true",
                    help="also load model files that can run code when loaded (README, Safety)")
    return ap


@user_errors
def main(argv: list[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    cfg, rules, typed = typed_settings(args)
    clf = False if args.no_classifier else args.classifier
    pipe = load_pipeline(args.detector, clf, cfg, pipeline=args.pipeline, device=args.device,
                         trust=args.trust_model, typed=typed)
    data_dir = resolve(args.data, data_root=args.data_root)
    res = evaluate_pipeline(pipe, data_dir, args.split, rules=rules)
    res["provenance"] = provenance(pipe, flag_pct=rules.flag_pct)
    for line in provenance_lines(res["provenance"]):
        print(f"# {line}")
    print(f"blast calls by: {res['call_by']}")
    for key, agg in [("all", res["overall"]), *res["by_camera"].items()]:
        v = {k: agg[k]["value"] for k in ("cell_blast_recall", "cell_blast_precision", "cell_specificity",
                                          "slide_sensitivity", "slide_specificity", "count_within_10pct")}
        print(f"{key:>18}: slides {agg['slides']:3d}  cell blast recall {v['cell_blast_recall']}  precision "
              f"{v['cell_blast_precision']}  cell specificity {v['cell_specificity']}  slide sens "
              f"{v['slide_sensitivity']}  spec {v['slide_specificity']}  blast% MAE {agg['blast_pct_mae']['value']}"
              f"  count within 10% {v['count_within_10pct']}")
    if args.out:
        atomic_write_json(args.out, res)
        print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
