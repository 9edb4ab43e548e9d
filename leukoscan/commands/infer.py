"""Detect and classify leukocytes on slides; write annotated images, cell tables, a report.

    leukoscan infer slide.jpg [more.jpg | folder/ | manifest.csv ...] [--detector W] [--classifier W] [--out DIR]
    leukoscan infer --engine ray [--address auto|ray://HEAD:10001] cohort/ --out OUT   # on a Ray cluster

With ``--engine ray`` the slides are processed by Ray workers (pip install
'leukoscan[distributed]'); the outputs are named and written exactly as in one process,
and running again with the same --out skips the slides already finished.

(``python tools/infer.py ...`` is the same command.) Exit code 0 when every input was
processed, 1 when some input failed (it is reported and skipped), 2 on a bad option
value, a missing model, or no input that exists at all.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from leukoscan.app.batch import BatchResult, run_batch
from leukoscan.app.pipeline import (
    CLASSIFY_RUNS,
    DETECT_RUNS,
    TRAIN_CLASSIFIER,
    TRAIN_DETECTOR,
    PipelineConfig,
    find_run,
    load_pipeline,
)
from leukoscan.cli import EXIT_OK, EXIT_PARTIAL, user_errors
from leukoscan.device import resolve_device
from leukoscan.errors import ConfigError, DataError
from leukoscan.runs import RunDir


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
    ap.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:1, 1")
    ap.add_argument("--engine", choices=("local", "ray"), default="local",
                    help="local: this process (default); ray: Ray Data workers (resumable)")
    ap.add_argument("--address", help="Ray cluster: auto (running cluster) or ray://HEAD:10001; "
                                      "default: start a local Ray")
    ap.add_argument("--workers", type=int, help="Ray workers (default: one per CPU, or per GPU with cuda)")
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
    return PipelineConfig(conf=args.conf, margin=args.margin, tile=tile, blast_threshold=args.blast_threshold)


def _run_ray(args: argparse.Namespace, cfg: PipelineConfig, out: Path) -> BatchResult:
    """The batch on Ray workers, each loading the models named here (absolute paths)."""
    import functools
    import importlib.util

    from leukoscan.app.distributed import RayOptions, run_batch_ray  # optional dependency: Ray

    if importlib.util.find_spec("ray") is None:
        raise ConfigError("--engine ray needs Ray: pip install 'leukoscan[distributed]'")
    det = find_run(args.detector, DETECT_RUNS, TRAIN_DETECTOR).absolute()
    clf = find_run(args.classifier, CLASSIFY_RUNS, TRAIN_CLASSIFIER).absolute()
    load_pipeline(det, clf, cfg, onnx=args.onnx)  # fail here, once, on a bad model rather than in every worker
    device = "cpu" if args.device == "cpu" else "cuda" if args.device != "auto" or _has_cuda() else "cpu"
    factory = functools.partial(load_pipeline, det, clf, cfg, onnx=args.onnx)
    opts = RayOptions(address=args.address, device=device, workers=args.workers)
    return run_batch_ray(factory, args.inputs, out, threshold_pct=args.flag_pct, options=opts)


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


@user_errors
def main(argv: list[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    cfg = pipeline_config(args)
    if not any(Path(p).exists() for p in args.inputs):
        raise DataError(f"no such file or folder: {', '.join(args.inputs)}")
    out = Path(args.out) if args.out else RunDir.new("runs/infer", args.name).path
    if args.engine == "ray":
        res = _run_ray(args, cfg, out)
    else:
        device = resolve_device(args.device)  # a GPU that is not there: one line, exit 2, before loading
        pipe = load_pipeline(args.detector, args.classifier, cfg, onnx=args.onnx).to(device)
        res = run_batch(pipe, args.inputs, out, threshold_pct=args.flag_pct)
    for s in res.summaries:
        pct = "n/a" if s.blast_pct is None else f"{s.blast_pct:.1f}% [{s.blast_pct_ci95[0]:.1f}, {s.blast_pct_ci95[1]:.1f}]"
        print(f"{s.image}: {s.leukocytes} leukocytes, {s.blasts} blasts, blast {pct}"
              + ("  FLAG" if s.flagged else ""))
    for path, msg in res.failures:
        print(f"FAILED {path}: {msg}", file=sys.stderr)
    if res.skipped:
        print(f"{res.skipped} slides were already finished in {out} (skipped)")
    print(f"outputs: {out}  (report: {out / 'report.html'})")
    return EXIT_OK if res.ok else EXIT_PARTIAL


if __name__ == "__main__":
    raise SystemExit(main())
