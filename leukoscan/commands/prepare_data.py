"""Convert a dataset into LeukoScan's canonical form and print its data-quality report.

    leukoscan prepare-data NAME [--data-root DIR] [--out DIR] [--overwrite]
    leukoscan prepare-data voc --source MY_VOC_FOLDER --out runs/data/mine

NAME: bccd, all_idb1, all_idb2, txl_pbc, demo, demo_cells, yolo, coco, voc.
(``python tools/prepare_data.py ...`` is the same command.) Exit code 2 on a missing
dataset, bad data, an unknown name or option, or an existing --out without --overwrite.
"""

from __future__ import annotations

import argparse
import time

from leukoscan.cli import user_errors
from leukoscan.data import format_summary, list_datasets, prepare, read_report


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
    return ap


@user_errors
def main(argv: list[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    opts = {k: v for k, v in (("split_file", args.split_file), ("provenance", args.provenance),
                              ("exclude", args.exclude), ("seed", args.seed)) if v is not None}
    t0 = time.perf_counter()
    out = prepare(args.name, data_root=args.data_root, out=args.out, source=args.source,
                  overwrite=args.overwrite, progress=not args.quiet, **opts)
    print(format_summary(read_report(out)))
    print(f"wrote {out} in {time.perf_counter() - t0:.1f} s (report: {out / 'report.json'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
