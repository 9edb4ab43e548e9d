"""Detect and classify leukocytes on slides; write annotated images, cell tables, a report.

    python tools/infer.py slide.jpg [more.jpg | folder/ ...] [--detector W] [--classifier W] [--out DIR]

Exit code 0 when every input was processed, 1 when any input failed (it is reported and
skipped), 2 on usage errors or missing models.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def get_args_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("inputs", nargs="+", help="image files and/or folders of images")
    ap.add_argument("--detector", help="detector run folder (runs/detect/<name>) or weights file; default: newest run")
    ap.add_argument("--classifier", help="classifier run folder (runs/classify/<name>) or weights file; default: newest run")
    ap.add_argument("--out", help="output folder (default: runs/infer/<name>, never overwritten)")
    ap.add_argument("--name", default="exp", help="run name under runs/infer/ when --out is not given")
    ap.add_argument("--margin", type=float, default=0.15,
                    help="crop margin per side, as a fraction of the box side")
    ap.add_argument("--conf", type=float, default=0.25, help="detector score threshold")
    ap.add_argument("--tile", default="auto",
                    help="sliced inference: auto (large slides only, default), off, or a tile size in pixels")
    ap.add_argument("--blast-threshold", type=float, default=0.5, help="blast probability cut-off per cell")
    ap.add_argument("--flag-pct", type=float, default=20.0, help="flag a slide when blast %% >= this")
    ap.add_argument("--onnx", action="store_true", help="run exported ONNX models with onnxruntime")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)

    from leukoscan.app.batch import run_batch
    from leukoscan.app.pipeline import PipelineConfig, load_pipeline
    from leukoscan.paths import new_run_dir

    tile = {"auto": None, "off": 0}.get(args.tile) if not args.tile.isdigit() else int(args.tile)
    if tile is None and args.tile != "auto":
        get_args_parser().error(f"--tile must be auto, off or a number of pixels, not {args.tile!r}")
    cfg = PipelineConfig(conf=args.conf, margin=args.margin, tile=tile, blast_threshold=args.blast_threshold)
    try:
        pipe = load_pipeline(args.detector, args.classifier, cfg, onnx=args.onnx)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else new_run_dir("runs/infer", args.name)
    res = run_batch(pipe, args.inputs, out, threshold_pct=args.flag_pct)
    for s in res.summaries:
        pct = "n/a" if s.blast_pct is None else f"{s.blast_pct:.1f}% [{s.blast_pct_ci95[0]:.1f}, {s.blast_pct_ci95[1]:.1f}]"
        print(f"{s.image}: {s.leukocytes} leukocytes, {s.blasts} blasts, blast {pct}"
              + ("  FLAG" if s.flagged else ""))
    for path, msg in res.failures:
        print(f"FAILED {path}: {msg}", file=sys.stderr)
    print(f"outputs: {out}  (report: {out / 'report.html'})")
    return 0 if res.ok else 1


if __name__ == "__main__":
    sys.exit(main())
