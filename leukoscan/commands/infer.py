"""Detect and classify leukocytes on slides; write annotated images, cell tables, a report.

    python tools/infer.py slide.jpg [more.jpg | folder/ | manifest.csv ...] [--detector W] [--classifier W] [--out DIR]
    leukoscan infer --engine ray [--address auto|ray://HEAD:10001] cohort/ --out OUT   # on a Ray cluster

With ``--engine ray`` the slides are processed by Ray workers (pip install
'leukoscan[distributed]'); the outputs are named and written exactly as in one process,
and running again with the same --out skips the slides already finished.

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
    ap.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:1, 1")
    ap.add_argument("--engine", choices=("local", "ray"), default="local",
                    help="local: this process (default); ray: Ray Data workers (resumable)")
    ap.add_argument("--address", help="Ray cluster: auto (running cluster) or ray://HEAD:10001; "
                                      "default: start a local Ray")
    ap.add_argument("--workers", type=int, help="Ray workers (default: one per CPU, or per GPU with cuda)")
    return ap


def _run_ray(args: argparse.Namespace, cfg: object, out: Path):  # -> BatchResult
    import functools
    import importlib.util

    from leukoscan.app.distributed import RayOptions, run_batch_ray
    from leukoscan.app.pipeline import (
        CLASSIFY_RUNS, DETECT_RUNS, TRAIN_CLASSIFIER, TRAIN_DETECTOR, find_run, load_pipeline)
    from leukoscan.errors import ConfigError

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


def main(argv: list[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)

    from leukoscan.app.batch import run_batch
    from leukoscan.app.pipeline import PipelineConfig, load_pipeline
    from leukoscan.device import resolve_device
    from leukoscan.paths import new_run_dir

    tile = {"auto": None, "off": 0}.get(args.tile) if not args.tile.isdigit() else int(args.tile)
    if tile is None and args.tile != "auto":
        get_args_parser().error(f"--tile must be auto, off or a number of pixels, not {args.tile!r}")
    cfg = PipelineConfig(conf=args.conf, margin=args.margin, tile=tile, blast_threshold=args.blast_threshold)
    out = Path(args.out) if args.out else new_run_dir("runs/infer", args.name)
    try:
        if args.engine == "ray":
            res = _run_ray(args, cfg, out)
        else:
            pipe = load_pipeline(args.detector, args.classifier, cfg, onnx=args.onnx).to(resolve_device(args.device))
            res = run_batch(pipe, args.inputs, out, threshold_pct=args.flag_pct)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for s in res.summaries:
        pct = "n/a" if s.blast_pct is None else f"{s.blast_pct:.1f}% [{s.blast_pct_ci95[0]:.1f}, {s.blast_pct_ci95[1]:.1f}]"
        print(f"{s.image}: {s.leukocytes} leukocytes, {s.blasts} blasts, blast {pct}"
              + ("  FLAG" if s.flagged else ""))
    for path, msg in res.failures:
        print(f"FAILED {path}: {msg}", file=sys.stderr)
    if res.skipped:
        print(f"{res.skipped} slides were already finished in {out} (skipped)")
    print(f"outputs: {out}  (report: {out / 'report.html'})")
    return 0 if res.ok else 1


if __name__ == "__main__":
    sys.exit(main())
