"""End-to-end evaluation on ALL-IDB1 slides (cells vs centroids, slide-level ALL calls), or of
the differential on data with typed white cells (BCCD full fields + wbc_subtypes.csv).

    leukoscan evaluate-pipeline [--detector W] [--classifier W] [--data all_idb1] [--split val]
    leukoscan evaluate-pipeline --data bccd --type-classifier RUN [--detector W | --gt-boxes] [--split val]
    leukoscan evaluate-pipeline --data all_idb1 --type-classifier RUN --gt-boxes [--split val]

With ``--data bccd`` (or ``bccd_types``): per-cell type accuracy and per-class recall (95%
Wilson CIs, n), confusion, per-image differential error and agreement
(:mod:`leukoscan.pipeline.train.evaluate_types`); ``--gt-boxes`` types the annotated WBC
boxes instead of detections (no detector, no blast stage). With ``--data all_idb1
--gt-boxes`` (no type ground truth): the share of annotated leukocytes (and blasts) given
each type, reported, not scored.

(``python tools/evaluate_pipeline.py ...`` is the same command.) Exit code 2 on a missing
model or dataset.
"""

from __future__ import annotations

import argparse

from leukoscan.data import resolve
from leukoscan.data.cards import locate
from leukoscan.errors import ConfigError
from leukoscan.io import atomic_write_json
from leukoscan.pipeline.infer.cascade import load_pipeline
from leukoscan.pipeline.infer.provenance import provenance, provenance_lines
from leukoscan.pipeline.infer.settings import PipelineConfig
from leukoscan.pipeline.train.end_to_end import POINT_RULE, evaluate_pipeline
from leukoscan.pipeline.train.evaluate_types import evaluate_types, type_shares, type_stage_only
from leukoscan.tools.common import user_errors
from leukoscan.tools.pipeline_args import ALL, add_pipeline_args, typed_settings

#: The slide call scored is the point rule with no minimum of cells (POINT_RULE: comparable with
#: every benchmark); infer's --min-cells / --flag-rule / --uncertain-band do not apply here.
_SETTINGS = tuple(n for n in ALL if n not in ("min_cells", "flag_rule", "uncertain_band"))


def get_args_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--detector", help="detector run folder or weights (default: newest run)")
    ap.add_argument("--classifier", help="classifier run folder or weights (default: newest run)")
    ap.add_argument("--pipeline", help="a train-all-pipeline run folder (detector, classifier, fusion, thresholds)")
    ap.add_argument(
        "--no-classifier", action="store_true", help="detector only: blasts from the detector's own blast class"
    )
    ap.add_argument("--data", default="all_idb1", help="dataset name or prepared folder")
    ap.add_argument("--data-root", help="raw data root (default: $LEUKOSCAN_DATA or ./datasets)")
    ap.add_argument("--split", default="val")
    ap.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda:0 or 0: both stages")
    add_pipeline_args(ap, _SETTINGS)
    ap.add_argument(
        "--gt-boxes",
        action="store_true",
        help="with --type-classifier: type the annotated boxes (no detector, no blast stage)",
    )
    ap.add_argument("--out", help="JSON file for the results")
    ap.add_argument(
        "--trust-model",
        action="store_true",
        help="also load model files that can run code when loaded (README, Safety)",
    )
    return ap


@user_errors
def main(argv: list[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    cfg, rules, typed = typed_settings(args, _SETTINGS)
    if args.data in TYPED_DATA:
        return _types(args, cfg, typed)
    if cfg.type_classifier and args.gt_boxes:
        return _shares(args, cfg)
    clf = False if args.no_classifier else args.classifier
    pipe = load_pipeline(
        args.detector, clf, cfg, pipeline=args.pipeline, device=args.device, trust=args.trust_model, typed=typed
    )
    data_dir = resolve(args.data, data_root=args.data_root)
    res = evaluate_pipeline(pipe, data_dir, args.split, rules=rules)
    res["provenance"] = provenance(pipe, rules=POINT_RULE, flag_pct=rules.flag_pct)
    for line in provenance_lines(res["provenance"]):
        print(f"# {line}")
    print(f"blast calls by: {res['call_by']}")
    for key, agg in [("all", res["overall"]), *res["by_camera"].items()]:
        v = {
            k: agg[k]["value"] if agg[k] is not None else "not assessed"
            for k in (
                "cell_blast_recall",
                "cell_blast_precision",
                "cell_specificity",
                "slide_sensitivity",
                "slide_specificity",
                "count_within_10pct",
            )
        }
        mae = (agg["blast_pct_mae"] or {}).get("value", "not assessed")
        print(
            f"{key:>18}: slides {agg['slides']:3d}  cell blast recall {v['cell_blast_recall']}  precision "
            f"{v['cell_blast_precision']}  cell specificity {v['cell_specificity']}  slide sens "
            f"{v['slide_sensitivity']}  spec {v['slide_specificity']}  blast% MAE {mae}"
            f"  count within 10% {v['count_within_10pct']}"
        )
    if args.out:
        atomic_write_json(args.out, res)
        print(f"written: {args.out}")
    return 0


#: Datasets whose white cells carry a type: the differential is evaluated on them.
TYPED_DATA = ("bccd", "bccd_types")


def _types(args: argparse.Namespace, cfg: PipelineConfig, typed: dict[str, str]) -> int:
    if not cfg.type_classifier:
        raise ConfigError(f"--data {args.data}: evaluating the differential needs --type-classifier RUN")
    pipe = (
        type_stage_only(cfg.type_classifier, cfg, trust=args.trust_model)
        if args.gt_boxes
        else load_pipeline(
            args.detector,
            # the differential needs no blast stage: without an explicit --classifier none is
            # loaded (the newest classifier run may well be the type classifier itself)
            args.classifier if args.classifier and not args.no_classifier else False,
            cfg,
            device=args.device,
            trust=args.trust_model,
            typed=typed,
        )
    )
    res = evaluate_types(pipe, locate("bccd_types", args.data_root), args.split, gt_boxes=args.gt_boxes)
    res["type_classifier"] = pipe.sources["type_classifier"].to_dict()
    pc, pi = res["per_cell"], res["per_image"]
    acc = pc["accuracy"]
    print(
        f"cells from {res['cells_from']}; {res['n_cells']} typed cells in {res['n_images']} images "
        f"(left out: {res['left_out']['mixed_or_no_type_boxes']} boxes of images naming several types or none)"
    )
    print(
        f"per-cell type accuracy {acc['value']:.3f} [{acc['ci95'][0]:.3f}, {acc['ci95'][1]:.3f}]  "
        f"balanced {pc['balanced_accuracy']:.3f}"
    )
    for k, v in pc["recall"].items():
        print(f"  recall {k:12s} {v['value']:.3f} [{v['ci95'][0]:.3f}, {v['ci95'][1]:.3f}]  n={v['n']}")
    print(
        f"per-image agreement {pi['agreement']['value']:.3f} ({pi['agreement']['k']}/{pi['agreement']['n']}), "
        f"mean differential error {pi['diff_error_pts_mean']} points"
    )
    pool = res["pooled_differential"]
    print(
        "pooled differential (true % -> predicted %): "
        + ", ".join(f"{k} {v['true_pct']} -> {v['pred_pct']}" for k, v in pool["types"].items())
        + f"; mean error {pool['mean_abs_error_pts']} points"
    )
    if args.out:
        atomic_write_json(args.out, res)
        print(f"written: {args.out}")
    return 0


def _shares(args: argparse.Namespace, cfg: PipelineConfig) -> int:
    pipe = type_stage_only(cfg.type_classifier, cfg, trust=args.trust_model)
    res = type_shares(pipe, resolve(args.data, data_root=args.data_root), args.split)
    res["type_classifier"] = pipe.sources["type_classifier"].to_dict()
    for lab in [k for k in res if isinstance(res[k], dict) and "types" in res[k]]:
        shares = ", ".join(f"{k} {v['count']} ({100 * v['value']:.0f}%)" for k, v in res[lab]["types"].items())
        print(f"annotated {lab} (n={res[lab]['n']}): {shares}")
    if args.out:
        atomic_write_json(args.out, res)
        print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
