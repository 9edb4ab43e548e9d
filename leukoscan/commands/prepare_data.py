"""Convert a dataset into LeukoScan's canonical form and print its data-quality report.

    python tools/prepare_data.py NAME [--data-root DIR] [--out DIR] [--overwrite]
    python tools/prepare_data.py voc --source MY_VOC_FOLDER --out runs/data/mine

NAME: bccd, all_idb1, all_idb2, txl_pbc, demo, demo_cells, yolo, coco, voc.
"""

from __future__ import annotations

import argparse
import sys
import time


def get_args_parser() -> argparse.ArgumentParser:
    from leukoscan.data import list_datasets

    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("name", help=f"dataset: {', '.join(list_datasets())}")
    ap.add_argument(
        "--data-root", help="root holding the raw datasets (default: $LEUKOSCAN_DATA or ./datasets)"
    )
    ap.add_argument(
        "--source", help="the raw folder itself (needed for yolo/coco/voc; overrides --data-root)"
    )
    ap.add_argument("--out", help="output folder (default: runs/data/NAME)")
    ap.add_argument("--overwrite", action="store_true", help="replace a non-empty --out")
    ap.add_argument(
        "--split-file", help="all_idb1/all_idb2: CSV image,split (default: auto-detected)"
    )
    ap.add_argument("--provenance", help="all_idb2: provenance CSV giving each crop's source slide")
    ap.add_argument("--exclude", help="txl_pbc/yolo: text file of image names to drop")
    ap.add_argument("--seed", type=int, help="seed for generated data / automatic splits")
    ap.add_argument("--quiet", action="store_true", help="no progress bars")
    return ap


def main(argv: list[str] | None = None) -> int:
    from leukoscan.data import (
        DataError,
        DatasetMissingError,
        format_summary,
        prepare,
        read_report,
    )

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
    try:
        out = prepare(
            args.name,
            data_root=args.data_root,
            out=args.out,
            source=args.source,
            overwrite=args.overwrite,
            progress=not args.quiet,
            **opts,
        )
    except (DataError, DatasetMissingError, FileExistsError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except TypeError as e:  # an option the converter does not take
        print(f"error: {args.name}: {e}", file=sys.stderr)
        return 2
    print(format_summary(read_report(out)))
    print(f"wrote {out} in {time.perf_counter() - t0:.1f} s (report: {out / 'report.json'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
