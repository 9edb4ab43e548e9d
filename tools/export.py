"""Export a trained detector (YOLO backends) and classifier (torch models) to ONNX.

    leukoscan export [--detector runs/detect/<name>] [--classifier runs/classify/<name>]

Writes ``weights/best.onnx`` (+ ``.json``) in the detector run and ``model.onnx``
(+ ``.json``) in the classifier run; ``leukoscan infer --onnx`` then runs them with
onnxruntime. Defaults: the newest runs. (``python tools/export.py ...`` is the same
command.) Exit code 2 on a missing model or one that cannot be exported.
"""

from __future__ import annotations

import argparse

from leukoscan.pipeline.infer.cascade import (
    CLASSIFY_RUNS,
    DETECT_RUNS,
    TRAIN_CLASSIFIER,
    TRAIN_DETECTOR,
    find_run,
)
from leukoscan.pipeline.infer.export_onnx import export_pair
from leukoscan.tools.common import user_errors


def get_args_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--detector", help="detector run folder or weights (default: newest run)")
    ap.add_argument("--classifier", help="classifier run folder or weights (default: newest run)")
    return ap


@user_errors
def main(argv: list[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    det = find_run(args.detector, DETECT_RUNS, TRAIN_DETECTOR)
    clf = find_run(args.classifier, CLASSIFY_RUNS, TRAIN_CLASSIFIER)
    for kind, path in export_pair(det, clf).items():
        print(f"{kind}: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
