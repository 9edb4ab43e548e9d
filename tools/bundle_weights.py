"""Bundle a finished training on open data into the package, with its model card.

    leukoscan bundle-weights --detector runs/detect/blood_yolov8n        # -> leukoscan/weights/blood_fields_yolov8n.pt
    leukoscan bundle-weights --classifier runs/classify/pbc_mobilenet_v2  # -> leukoscan/weights/pbc_mobilenet_v2.pt
    leukoscan bundle-weights --list

Only runs trained on openly licensed data (pbc, bccd, txl_pbc, blood_fields) are accepted:
ALL-IDB is research use only and its derived weights are never bundled. Each bundled file
gets ``<name>.card.json`` (data, licence and attribution, recipe, commit, held-out metrics,
limits, SHA-256 of the file).
"""

from __future__ import annotations

import argparse
import json

from leukoscan.bundled import bundled_names, card
from leukoscan.classify.pretrain import bundle_backbone
from leukoscan.detect.bundle import bundle_detector
from leukoscan.pipeline.infer.provenance import git_commit
from leukoscan.tools.common import user_errors


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--detector", metavar="RUN", help="finished YOLO run on open data")
    g.add_argument("--classifier", metavar="RUN", help="finished pretrain-backbone run on open data")
    g.add_argument("--list", action="store_true", help="list the bundled weights and their cards")
    p.add_argument("--name", help="bundled name (default <data>_<arch>)")
    p.add_argument("--out", help="folder (default: the package's leukoscan/weights)")
    p.add_argument("--metrics", help="JSON file of extra held-out metrics for the card (detectors)")
    return p


@user_errors
def main(argv: list[str] | None = None) -> int:
    a = get_args_parser().parse_args(argv)
    if a.list:
        for n in bundled_names():
            c = card(n)
            print(
                f"{n}: {c['kind']} {c['arch']} on {c['data']} ({c['licence_of_data']}), "
                f"{c['size_bytes'] / 1e6:.1f} MB, sha256 {c['sha256'][:12]}"
            )
        return 0
    if a.detector:
        extra = json.loads(open(a.metrics).read()) if a.metrics else None
        path = bundle_detector(a.detector, name=a.name, out=a.out, commit=git_commit(), extra_metrics=extra)
    else:
        path = bundle_backbone(a.classifier, name=a.name, out=a.out, commit=git_commit())
    print(f"bundled: {path} (card: {path.with_suffix('').name}.card.json)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
