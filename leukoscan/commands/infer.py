"""Detect and classify leukocytes on slides; write annotated images, cell tables, a report.

    leukoscan infer slide.jpg [more.jpg | folder/ ...] [--detector W] [--classifier W] [--out DIR]

(``python tools/infer.py ...`` is the same command.) Exit code 0 when every input was
processed, 1 when some input failed (it is reported and skipped), 2 on a bad option
value, a missing model, or no input that exists at all.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from leukoscan.app.batch import run_batch
from leukoscan.app.outputs import LOCK_FILE, locked_out_dir, reserve_run_dir
from leukoscan.app.pipeline import PipelineConfig, load_pipeline
from leukoscan.cli import EXIT_OK, EXIT_PARTIAL, user_errors
from leukoscan.errors import ConfigError, DataError
from leukoscan.io import max_pixels_default


def get_args_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("inputs", nargs="+", help="image files and/or folders of images")
    ap.add_argument("--detector", help="detector run folder (runs/detect/<name>) or weights file; default: newest run")
    ap.add_argument("--classifier", help="classifier run folder (runs/classify/<name>) or weights file; default: newest run")
    ap.add_argument("--out", help="output folder (default: runs/infer/<name>, never overwritten)")
    ap.add_argument("--name", default="exp", help="run name under runs/infer/ when --out is not given")
    ap.add_argument("--margin", type=float, default=0.15, help="crop margin per side, as a fraction of the box side")
    ap.add_argument("--conf", type=float, default=0.25, help="detector score threshold")
    ap.add_argument("--tile", default="auto",
                    help="sliced inference: auto (large slides only, default), off, or a tile size in pixels")
    ap.add_argument("--blast-threshold", type=float, default=0.5, help="blast probability cut-off per cell")
    ap.add_argument("--flag-pct", type=float, default=20.0, help="flag a slide when blast %% >= this")
    ap.add_argument("--onnx", action="store_true", help="run exported ONNX models with onnxruntime")
    ap.add_argument("--recursive", action=argparse.BooleanOptionalAction, default=True,
                    help="search folders recursively (default: on; symlink loops are safe)")
    ap.add_argument("--max-pixels", type=int, default=None,
                    help="refuse images with more pixels than this (default: 50000000, or $LEUKOSCAN_MAX_PIXELS)")
    ap.add_argument("--trust-model", action="store_true",
                    help="load model files that can run code when loaded (pickles; see README, Safety); "
                         "only for files you trust")
    return ap


def pipeline_config(args: argparse.Namespace) -> PipelineConfig:
    """The options as a PipelineConfig; a value out of range is a ConfigError naming the flag."""
    tile = {"auto": None, "off": 0}.get(args.tile) if not args.tile.isdigit() else int(args.tile)
    if tile is None and args.tile != "auto":
        raise ConfigError(f"--tile must be auto, off or a number of pixels, not {args.tile!r}")
    for flag, v in (("--conf", args.conf), ("--blast-threshold", args.blast_threshold)):
        if not 0.0 <= v <= 1.0:
            raise ConfigError(f"{flag} must be in [0, 1], got {v}")
    if args.margin < 0:
        raise ConfigError(f"--margin must be >= 0, got {args.margin}")
    if args.max_pixels is not None and args.max_pixels <= 0:
        raise ConfigError(f"--max-pixels must be a positive number of pixels, got {args.max_pixels}")
    return PipelineConfig(conf=args.conf, margin=args.margin, tile=tile, blast_threshold=args.blast_threshold)


@user_errors
def main(argv: list[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    cfg = pipeline_config(args)
    if not any(Path(p).exists() for p in args.inputs):
        raise DataError(f"no such file or folder: {', '.join(args.inputs)}")
    max_pixels_default()  # a bad LEUKOSCAN_MAX_PIXELS fails before anything runs
    out = Path(args.out) if args.out else reserve_run_dir("runs/infer", args.name)
    try:
        with locked_out_dir(out):  # before the models load: a busy or unwritable --out fails at once
            pipe = load_pipeline(args.detector, args.classifier, cfg, onnx=args.onnx, trust=args.trust_model)
            res = run_batch(pipe, args.inputs, out, threshold_pct=args.flag_pct, recursive=args.recursive,
                            max_pixels=args.max_pixels)
    except BaseException:
        if not args.out:
            _remove_if_empty(out)
        raise
    for s in res.summaries:
        pct = "n/a" if s.blast_pct is None else f"{s.blast_pct:.1f}% [{s.blast_pct_ci95[0]:.1f}, {s.blast_pct_ci95[1]:.1f}]"
        print(f"{s.image}: {s.leukocytes} leukocytes, {s.blasts} blasts, blast {pct}"
              + ("  FLAG" if s.flagged else ""))
    for path, msg in res.failures:
        print(f"FAILED {path}: {msg}", file=sys.stderr)
    print(f"outputs: {out}  (report: {out / 'report.html'})")
    return EXIT_OK if res.ok else EXIT_PARTIAL


def _remove_if_empty(folder: Path) -> None:
    """A run folder we created that holds nothing but the lock file (a failed start)."""
    if folder.is_dir() and {p.name for p in folder.iterdir()} <= {LOCK_FILE}:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
