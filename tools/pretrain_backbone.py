"""In-domain pretraining of a classifier backbone on cell crops of a detection dataset.

    leukoscan pretrain-backbone --arch resnet18 --data txl_pbc --data-root ../shared/data
    leukoscan benchmark-classifiers ... per_model.resnet18+svm.backbone_weights=runs/classify/pretrain_resnet18/backbone.pt

Writes runs/classify/<name>/backbone.pt (+ config.yaml, metrics.json).
"""

from __future__ import annotations

import argparse

from leukoscan.classify.pretrain import PretrainConfig, pretrain_backbone
from leukoscan.config import load_config, parse_overrides
from leukoscan.tools.common import user_errors


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--arch", help="zoo network (default resnet18)")
    p.add_argument("--data", help="detection dataset name or prepared folder (default txl_pbc)")
    p.add_argument("--data-root", dest="data_root")
    p.add_argument("--imgsz", type=int)
    p.add_argument("--epochs", type=int)
    p.add_argument("--device", help="auto (default), cpu, cuda, cuda:1")
    p.add_argument("--name")
    p.add_argument("overrides", nargs="*", help="key=value, e.g. per_class=300 fit.lr=0.002")
    return p


@user_errors
def main(argv: list[str] | None = None) -> int:
    a = get_args_parser().parse_args(argv)
    over = parse_overrides(a.overrides)
    over.update({k: getattr(a, k) for k in ("arch", "data", "data_root", "imgsz", "name")
                 if getattr(a, k) is not None})
    for key in ("epochs", "device"):
        if getattr(a, key) is not None:
            over.setdefault("fit", {})[key] = getattr(a, key)
    cfg = load_config(PretrainConfig, None, over)
    print(f"backbone: {pretrain_backbone(cfg)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
