"""Detect and classify leukocytes on slides; write annotated images, cell tables, a report.

    leukoscan infer slide.jpg [more.jpg | folder/ ...] [--detector RUN] [--classifier RUN] [--out DIR]
                    [--device cuda:0] [--conf C] [--iou I] [--max-det N] [--save-txt [--save-conf]]
                    [key=value ...]          e.g. conf=0.3 iou=0.5 device=cpu image_format=png

Any flag can also be given as key=value (dashes as underscores); a misspelt key is an
error with a did-you-mean. Re-running with the same --out skips slides already done
(manifest.json) and rewrites the summary and report over all of them; --overwrite redoes.

On a Ray cluster (pip install 'leukoscan[distributed]'):

    leukoscan infer --engine ray [--address auto|ray://HEAD:10001] [--workers N] cohort/ --out OUT

Ray workers load the models once each and process and write the slides themselves; the
outputs, manifest and report are those of the one-process run, and the same resume rules
apply (see README, Scaling out).

Settings flags (--conf, --margin, --blast-threshold, --reject, --flag-pct, ...) default to
PipelineConfig's values; next to --pipeline a typed one overrides the trained pipeline's
choice and every output's provenance says "set by --flag, pipeline chose X".

(``python tools/infer.py ...`` is the same command.) Exit code 0 when every input was
processed, 1 when some input failed (it is reported and skipped), 2 on a bad option
value, a missing model, no input that exists at all, or no image file among the inputs.
"""

from __future__ import annotations

import argparse
import difflib
import re
import shutil
import sys
from pathlib import Path
from typing import Any

from leukoscan.config import parse_overrides
from leukoscan.device import check_device
from leukoscan.errors import ConfigError, DataError
from leukoscan.io import IMAGE_SUFFIXES, max_pixels_default
from leukoscan.pipeline.batch.inputs import expand_inputs
from leukoscan.pipeline.batch.outputs import LOCK_FILE, ensure_free, reserve_run_dir
from leukoscan.pipeline.batch.runner import BatchResult, OutputOptions, run_batch
from leukoscan.pipeline.infer.cascade import Pipeline, load_pipeline
from leukoscan.pipeline.infer.provenance import model_warnings, provenance, provenance_lines
from leukoscan.pipeline.infer.settings import PipelineConfig
from leukoscan.pipeline.report.differential import Differential, text_lines
from leukoscan.pipeline.report.summary import SlideSummary
from leukoscan.tools.common import EXIT_OK, EXIT_PARTIAL, user_errors
from leukoscan.tools.pipeline_args import add_pipeline_args, typed_settings

_OVERRIDE = re.compile(r"^[A-Za-z_][\w.-]*=")


def get_args_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("inputs", nargs="+", help="image files and/or folders of images, and key=value overrides")
    ap.add_argument("--detector", help="detector run folder (runs/detect/<name>) or weights file; default: newest run")
    ap.add_argument(
        "--classifier", help="classifier run folder (runs/classify/<name>) or weights file; default: newest run"
    )
    ap.add_argument(
        "--pipeline",
        help="a train-all-pipeline run folder: detector, classifier, fusion and the "
        "operating points chosen for them (--detector/--classifier override its entries)",
    )
    ap.add_argument(
        "--no-classifier",
        action="store_true",
        help="detector only: leukocyte count, and blasts from the detector's own blast class if it has one",
    )
    ap.add_argument("--out", help="output folder (default: runs/infer/<name>, a new one each time)")
    ap.add_argument("--name", default="exp", help="run name under runs/infer/ when --out is not given")
    ap.add_argument("--root", help="folder the slide keys are relative to (default: deepest folder holding all inputs)")
    ap.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda:0 or 0: both stages")
    add_pipeline_args(ap)
    ap.add_argument(
        "--image-format",
        default="auto",
        choices=("auto", "jpg", "png"),
        help="annotated images: auto = JPEG for JPEG inputs, PNG otherwise",
    )
    ap.add_argument("--jpeg-quality", type=int, default=90, help="JPEG quality of annotated images (1-100)")
    ap.add_argument("--save-txt", action="store_true", help="also write YOLO-format labels/<slide>.txt")
    ap.add_argument("--save-conf", action="store_true", help="with --save-txt: add the detector score column")
    ap.add_argument("--overwrite", action="store_true", help="redo slides already done in --out")
    ap.add_argument("--onnx", action="store_true", help="run exported ONNX models with onnxruntime")
    ap.add_argument(
        "--recursive",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="search folders recursively (default: on; symlink loops are safe)",
    )
    ap.add_argument(
        "--max-pixels",
        type=int,
        default=None,
        help="refuse images with more pixels than this (default: 50000000, or $LEUKOSCAN_MAX_PIXELS)",
    )
    ap.add_argument(
        "--engine",
        choices=("local", "ray"),
        default="local",
        help="local: this process (default); ray: Ray Data workers, one model copy each",
    )
    ap.add_argument(
        "--address",
        help="with --engine ray: auto (the running cluster) or ray://HEAD:10001; default: start a local Ray",
    )
    ap.add_argument(
        "--workers",
        type=int,
        help="with --engine ray: workers (default: one per CPU, one per GPU with a CUDA --device)",
    )
    ap.add_argument(
        "--trust-model",
        action="store_true",
        help="load model files that can run code when loaded (pickles; see README, Safety); only for files you trust",
    )
    return ap


def overrides_onto_args(ap: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.Namespace:
    """Move ``key=value`` items (that are not existing files) from ``inputs`` onto ``args``.

    Parsed by :func:`leukoscan.config.parse_overrides` (the one ``key=value`` parser), then
    checked and typed as the flag of the same name (dashes as underscores).
    """
    known = {a.dest: a for a in ap._actions if a.dest not in ("help", "inputs")}
    items = [i for i in args.inputs if _OVERRIDE.match(i) and not Path(i).exists()]
    inputs = [i for i in args.inputs if i not in items]
    raw = dict(i.split("=", 1) for i in items)
    for key, value in parse_overrides([k.replace("-", "_") + "=" + v for k, v in raw.items()]).items():
        if key not in known:
            close = difflib.get_close_matches(key, list(known), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"unknown override {key!r}.{hint} Valid keys: {', '.join(sorted(known))}")
        action, text = known[key], f"{key}={value!r}"
        value = None if value == "" else value
        if action.type is not None and value is not None:
            try:
                value = action.type(value)
            except (TypeError, ValueError):
                raise ConfigError(f"override {text}: not a valid {action.type.__name__}") from None
        elif isinstance(action, argparse._StoreTrueAction):
            value = bool(value)
        elif value is not None:
            value = str(value)
        if action.choices and value not in action.choices:
            raise ConfigError(f"override {text}: choose from {', '.join(map(str, action.choices))}")
        setattr(args, key, value)
    if not inputs:
        ap.error("no input files or folders given")
    args.inputs = inputs
    return args


def _check_output_options(args: argparse.Namespace) -> None:
    if args.max_pixels is not None and args.max_pixels <= 0:
        raise ConfigError(f"--max-pixels must be a positive number of pixels, got {args.max_pixels}")
    if not 1 <= args.jpeg_quality <= 100:
        raise ConfigError(f"--jpeg-quality must be in [1, 100], got {args.jpeg_quality}")


@user_errors
def main(argv: list[str] | None = None) -> int:
    ap = get_args_parser()
    args = overrides_onto_args(ap, ap.parse_intermixed_args(argv))
    cfg, rules, typed = typed_settings(args)
    _check_output_options(args)
    check_device(args.device)  # a device string torch would choke on fails before any model loads
    if not any(Path(p).exists() for p in args.inputs):
        raise DataError(f"no such file or folder: {', '.join(args.inputs)}")
    max_pixels_default()  # a bad LEUKOSCAN_MAX_PIXELS fails before anything runs
    _check_some_images(args.inputs, args.recursive)  # before the models load: they take seconds
    out = Path(args.out) if args.out else reserve_run_dir("runs/infer", args.name)
    try:
        ensure_free(out)  # before the models load: a busy or unwritable --out fails at once (run_batch locks it)
        pipe = load_pipeline(
            args.detector,
            False if args.no_classifier else args.classifier,
            cfg,
            onnx=args.onnx,
            pipeline=args.pipeline,
            device=args.device,
            trust=args.trust_model,
            typed=typed,
        )
        prov = provenance(pipe, rules=rules)
        for line in provenance_lines(prov):
            print(f"# {line}")
        for line in model_warnings(prov):
            print(f"!! {line}", file=sys.stderr)
        opts = OutputOptions(
            image_format=args.image_format,
            jpeg_quality=args.jpeg_quality,
            save_txt=args.save_txt,
            save_conf=args.save_conf,
        )
        kw = {
            "rules": rules,
            "root": args.root,
            "options": opts,
            "overwrite": args.overwrite,
            "recursive": args.recursive,
            "max_pixels": args.max_pixels,
        }
        if args.engine == "ray":
            res = _run_ray(args, cfg, typed, pipe, out, kw)
        else:
            res = run_batch(pipe, args.inputs, out, on_slide=_print_slide, **kw)
    except BaseException:
        if not args.out:
            _remove_if_empty(out)
        raise
    _print_speed(list(res.timings.values()))
    if res.skipped:
        print(f"skipped {len(res.skipped)} slide(s) already done in {out} (--overwrite redoes them)")
    for path, msg in res.failures:
        print(f"FAILED {path}: {msg}", file=sys.stderr)
    n = len(res.records)
    print(f"results saved to {out}  ({n} slide{'' if n == 1 else 's'} in the report: {out / 'report.html'})")
    return EXIT_OK if res.ok else EXIT_PARTIAL


def _check_some_images(inputs: list[str], recursive: bool) -> None:
    """DataError (exit 2, nothing loaded or written) when the inputs hold no image file at all."""
    files, failures = expand_inputs(inputs, recursive=recursive)
    if any(p.suffix.lower() in IMAGE_SUFFIXES for p in files):
        return
    why = failures + [(str(p), f"unsupported file type {p.suffix!r}") for p in files]
    raise DataError(
        f"no image files to process (looked for {' '.join(IMAGE_SUFFIXES)}): "
        + "; ".join(f"{p}: {m}" for p, m in why[:5])
        + (f" (+{len(why) - 5} more)" if len(why) > 5 else "")
    )


def _print_slide(rec: dict[str, Any], t: dict[str, float]) -> None:
    """One line per slide as it finishes (above the progress bar)."""
    from tqdm import tqdm

    ms = f"  ({t['detect']:.0f} ms detect, {t['classify']:.0f} ms classify, {t['write']:.0f} ms write)" if t else ""
    tqdm.write(f"{rec['key']}: {SlideSummary.from_dict(rec['summary']).words()}{ms}")
    if rec.get("differential") is not None:  # the white-cell differential, when a type classifier ran
        tqdm.write("\n".join(text_lines(Differential.from_dict(rec["differential"]))))


def _print_speed(times: list[dict[str, float]]) -> None:
    """``Speed: 812 ms detect, 95 ms classify, 140 ms write per slide (mean of 4 slides)``."""
    if times:
        mean = {k: sum(t[k] for t in times) / len(times) for k in ("detect", "classify", "write")}
        print(
            f"Speed: {mean['detect']:.0f} ms detect, {mean['classify']:.0f} ms classify, {mean['write']:.0f} ms "
            f"write per slide (mean of {len(times)} slide{'' if len(times) == 1 else 's'})"
        )


def _run_ray(
    args: argparse.Namespace, cfg: PipelineConfig, typed: dict[str, str], pipe: Pipeline, out: Path, kw: dict[str, Any]
) -> BatchResult:
    """The batch on Ray workers, each loading the models this process loaded (absolute paths)."""
    import dataclasses
    import functools
    import importlib.util

    if importlib.util.find_spec("ray") is None:
        raise ConfigError("--engine ray needs Ray: pip install 'leukoscan[distributed]'")
    from leukoscan.pipeline.batch.distributed import (  # optional dependency: Ray
        RayOptions,
        run_batch_ray,
    )

    gpu = str(getattr(pipe.detector, "device", "cpu")).startswith("cuda")
    models = {
        role: str(Path(src.weights).absolute())
        for role, src in pipe.sources.items()
        if role in ("detector", "classifier", "type_classifier")
    }
    if "type_classifier" in models:  # the workers' working folder may differ: the file this process loaded
        cfg = dataclasses.replace(cfg, type_classifier=models["type_classifier"])
    factory = functools.partial(
        load_pipeline,
        models.get("detector"),
        models.get("classifier") or False,  # the workers load what this process loaded: no classifier here, none there
        cfg,
        onnx=args.onnx,
        pipeline=str(Path(args.pipeline).absolute()) if args.pipeline else None,
        trust=args.trust_model,
        typed=typed,
    )
    opts = RayOptions(address=args.address, device="cuda" if gpu else "cpu", workers=args.workers)
    return run_batch_ray(factory, args.inputs, out, pipeline=pipe, ray_options=opts, on_slide=_print_slide, **kw)


def _remove_if_empty(folder: Path) -> None:
    """A run folder we created that holds nothing but the lock file (a failed start)."""
    if folder.is_dir() and {p.name for p in folder.iterdir()} <= {LOCK_FILE}:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
