"""Pretrain a classifier backbone on blood cells (default: the 8 PBC cell types).

    leukoscan pretrain-backbone --arch mobilenet_v2 --data pbc --data-root ../shared/data --bundle
    leukoscan train-classifier --model mobilenet_v2+svm pretrained=pbc        # use the bundled backbone

Writes runs/classify/<name>/backbone.pt (+ config.yaml, metrics.json with val/test scores).
``--bundle`` also writes leukoscan/weights/<data>_<arch>.pt and its model card (only for
openly licensed data: pbc, bccd, txl_pbc, blood_fields; see ``leukoscan bundle-weights``).
"""

from __future__ import annotations

import argparse

from leukoscan.classify.pretrain import PretrainConfig, bundle_backbone, pretrain_backbone
from leukoscan.config import load_config, parse_overrides
from leukoscan.pipeline.infer.provenance import git_commit
from leukoscan.tools.common import user_errors


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--arch", help="zoo network (default resnet18)")
    p.add_argument("--data", help="cells dataset (default pbc) or detection dataset (e.g. txl_pbc), name or folder")
    p.add_argument("--data-root", dest="data_root")
    p.add_argument("--imgsz", type=int, help="crop size in px (default 96)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--device", help="auto (default), cpu, cuda, cuda:1")
    p.add_argument("--name")
    p.add_argument(
        "--bundle",
        action="store_true",
        help="also write the weights + model card into the package (leukoscan/weights/)",
    )
    p.add_argument("overrides", nargs="*", help="key=value, e.g. per_class=300 fit.lr=0.002")
    return p


@user_errors
def main(argv: list[str] | None = None) -> int:
    a = get_args_parser().parse_args(argv)
    over = parse_overrides(a.overrides)
    over.update({k: getattr(a, k) for k in ("arch", "data", "data_root", "imgsz", "name") if getattr(a, k) is not None})
    for key in ("epochs", "device"):
        if getattr(a, key) is not None:
            over.setdefault("fit", {})[key] = getattr(a, key)
    cfg = load_config(PretrainConfig, None, over)
    path = pretrain_backbone(cfg)
    print(f"backbone: {path}")
    if a.bundle:
        print(f"bundled: {bundle_backbone(path.parent, commit=git_commit())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
