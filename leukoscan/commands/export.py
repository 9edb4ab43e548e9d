"""Export a trained detector (YOLO backends) and classifier (torch models) to ONNX.

    python tools/export.py [--detector runs/detect/<name>] [--classifier runs/classify/<name>]

Writes ``weights/best.onnx`` (+ ``.json``) in the detector run and ``model.onnx``
(+ ``.json``) in the classifier run; ``tools/infer.py --onnx`` then runs them with
onnxruntime. Defaults: the newest runs.
"""

from __future__ import annotations

import argparse
import sys


def get_args_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--detector", help="detector run folder or weights (default: newest run)")
    ap.add_argument("--classifier", help="classifier run folder or weights (default: newest run)")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)

    from leukoscan.app.export import export_pair
    from leukoscan.app.pipeline import (
        CLASSIFY_RUNS,
        DETECT_RUNS,
        TRAIN_CLASSIFIER,
        TRAIN_DETECTOR,
        find_run,
    )

    try:
        det = find_run(args.detector, DETECT_RUNS, TRAIN_DETECTOR)
        clf = find_run(args.classifier, CLASSIFY_RUNS, TRAIN_CLASSIFIER)
        out = export_pair(det, clf)
    except (FileNotFoundError, ValueError, NotImplementedError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for kind, path in out.items():
        print(f"{kind}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
