"""Convert a dataset into LeukoScan's canonical form and print its data-quality report.

    leukoscan prepare-data NAME [--data-root DIR] [--out DIR] [--overwrite]
    leukoscan prepare-data voc --source MY_VOC_FOLDER --out runs/data/mine

NAME: bccd, all_idb1, all_idb2, txl_pbc, demo, demo_cells, yolo, coco, voc, and
``all_idb1_cells --detector RUN [RUN ...]``: leukocyte crops cut from ALL-IDB1 slides by a
detector with the pipeline's own crop function, labelled blast / normal / none by matching
to the annotations (several runs: each slide is cut by one that did not train on it).
(``python tools/prepare_data.py ...`` is the same command.) Exit code 2 on a missing
dataset, bad data, an unknown name or option, or an existing --out without --overwrite.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from pathlib import Path

from leukoscan.data import format_summary, list_datasets, prepare, read_report, resolve
from leukoscan.errors import ConfigError, OutputExistsError
from leukoscan.pipeline.train.allpipe import AllPipelineConfig, build_cells_dataset
from leukoscan.pipeline.train.cells import read_index
from leukoscan.tools.common import user_errors
from leukoscan.tools.pipeline_args import add_pipeline_args, typed_settings


def get_args_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("name", help=f"dataset: {', '.join(list_datasets())}")
    ap.add_argument("--data-root", help="root holding the raw datasets (default: $LEUKOSCAN_DATA or ./datasets)")
    ap.add_argument("--source", help="the raw folder itself (needed for yolo/coco/voc; overrides --data-root)")
    ap.add_argument("--out", help="output folder (default: runs/data/NAME)")
    ap.add_argument("--overwrite", action="store_true", help="replace a non-empty --out")
    ap.add_argument("--split-file", help="all_idb1/all_idb2: CSV image,split (default: auto-detected)")
    ap.add_argument("--provenance", help="all_idb2: provenance CSV giving each crop's source slide")
    ap.add_argument("--exclude", help="txl_pbc/yolo: text file of image names to drop")
    ap.add_argument("--seed", type=int, help="seed for generated data / automatic splits")
    ap.add_argument("--quiet", action="store_true", help="no progress bars")
    ap.add_argument("--detector", nargs="+", help="all_idb1_cells: detector run folder(s)")
    ap.add_argument("--split", default="train", help="all_idb1_cells: which split's slides (default train)")
    add_pipeline_args(ap, ("margin",))  # all_idb1_cells: the crop margin, as at inference
    ap.add_argument(
        "--cell-conf",
        type=float,
        help="all_idb1_cells: detector score floor when cutting cells "
        f"(default {AllPipelineConfig().cell_conf}, as train-all-pipeline)",
    )
    return ap


@user_errors
def main(argv: list[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    opts = {
        k: v
        for k, v in (
            ("split_file", args.split_file),
            ("provenance", args.provenance),
            ("exclude", args.exclude),
            ("seed", args.seed),
        )
        if v is not None
    }
    t0 = time.perf_counter()
    if args.name == "all_idb1_cells":
        return _cells(args, t0)
    out = prepare(
        args.name,
        data_root=args.data_root,
        out=args.out,
        source=args.source,
        overwrite=args.overwrite,
        progress=not args.quiet,
        **opts,
    )
    print(format_summary(read_report(out)))
    print(f"wrote {out} in {time.perf_counter() - t0:.1f} s (report: {out / 'report.json'})")
    return 0


def _cells(args: argparse.Namespace, t0: float) -> int:
    if not args.detector:
        raise ConfigError("all_idb1_cells needs --detector RUN [RUN ...] (the detector(s) that cut the cells)")
    out = Path(args.out or f"runs/data/all_idb1_cells_{args.split}")
    if out.exists() and any(out.iterdir()) and not args.overwrite:
        raise OutputExistsError(f"{out} exists and is not empty (--overwrite to replace it)")
    data_dir = resolve("all_idb1", data_root=args.data_root)
    cfg, _, _ = typed_settings(args, ("margin",))
    base = AllPipelineConfig()
    build_cells_dataset(
        data_dir,
        args.split,
        args.detector,
        out,
        margin=cfg.margin,
        conf=base.cell_conf if args.cell_conf is None else args.cell_conf,
        iou=base.iou,
        size=base.crop_size,
    )
    counts = Counter(r["label"] for r in read_index(out))
    print(f"cells: {dict(sorted(counts.items()))}; wrote {out} in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
