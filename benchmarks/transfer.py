"""Transfer from blood: ALL-IDB2 blast vs normal, scratch vs PBC-initialised, per architecture.

    python benchmarks/transfer.py --data-root ../shared/data \\
        --backbones runs/classify/pbc_{arch}/backbone.pt --archs resnet18,mobilenet_v2,shufflenet_v2,cnn

For each architecture and initialisation (random weights vs the blood backbone trained on the
8 PBC cell types, ``leukoscan pretrain-backbone --data pbc``):
- ``frozen``: pooled features of the network (head removed) -> StandardScaler -> SVM (the
  zoo's ``<arch>+svm``), and
- ``finetune`` (``--finetune``): the whole network trained on the fold's crops,
both under 5-fold cross-validation grouped by ALL-IDB1 overlap group (no slide, and no
overlapping field, on both sides of a fold), repeated over ``--seeds`` fold seeds. Reported:
balanced accuracy of the pooled out-of-fold predictions per seed, mean and range over seeds,
and the same on the Canon crops alone (the camera that has both classes). ALL-IDB2 here holds
only crops of the dev slides (train + val of the dev split); no PBC image is an ALL-IDB image.
Writes ``<out>.json`` after every row and ``<out>.md``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-root", required=True)
    p.add_argument("--backbones", required=True, help="path pattern with {arch}, or 'pbc' (bundled)")
    p.add_argument("--archs", default="resnet18,mobilenet_v2,shufflenet_v2,cnn")
    p.add_argument("--seeds", type=int, default=5, help="fold seeds (0..N-1) of the frozen rows (0: none)")
    p.add_argument("--imgsz", type=int, default=96)
    p.add_argument("--finetune", action="store_true", help="also fine-tune the whole network")
    p.add_argument("--finetune-archs", help="archs to fine-tune (default: --archs)")
    p.add_argument("--finetune-seeds", type=int, default=2)
    p.add_argument("--epochs", type=int, default=15, help="fine-tuning epochs")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "transfer_allidb2"))
    return p


def _row(name: str, results: list) -> dict:
    ba = [r.report.balanced_accuracy.value for r in results]
    canon = [r.subgroups["camera=Canon"].balanced_accuracy.value for r in results if "camera=Canon" in r.subgroups]
    return {
        "row": name,
        "seeds": len(results),
        "balanced_accuracy": ba,
        "mean": float(np.mean(ba)),
        "min": float(np.min(ba)),
        "max": float(np.max(ba)),
        "canon_balanced_accuracy": canon,
        "canon_mean": float(np.mean(canon)) if canon else None,
        "canon_min": float(np.min(canon)) if canon else None,
        "canon_max": float(np.max(canon)) if canon else None,
        "n": int(results[0].report.n),
        "seconds": round(sum(r.seconds for r in results), 1),
    }


def main(argv: list[str] | None = None) -> int:
    from leukoscan.classify.data import overlap_groups, resolve_cells
    from leukoscan.classify.model import FitCfg
    from leukoscan.classify.train import TrainConfig, cross_validate
    from leukoscan.device import set_cpu_threads

    a = get_args_parser().parse_args(argv)
    set_cpu_threads()
    cells = resolve_cells("all_idb2", data_root=a.data_root)
    overlap_groups(cells, a.data_root)  # records the camera of each crop (subgroup figures)
    archs = a.archs.split(",")
    rows: list[dict] = []
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)

    def save() -> None:
        doc = {
            "data": "ALL-IDB2 (dev slides' crops)",
            "n": len(cells),
            "cv": "5-fold grouped by overlap group",
            "imgsz": a.imgsz,
            "backbones": a.backbones,
            "rows": rows,
            "machine": "2-core x86_64 CPU box, shared",
            "date": time.strftime("%Y-%m-%d"),
        }
        out.with_suffix(".json").write_text(json.dumps(doc, indent=2))
        lines = [
            "| row | seeds | balanced acc. mean [min, max] | Canon only mean [min, max] | s |",
            "|---|---|---|---|---|",
        ]
        for r in rows:
            c = (
                f"{r['canon_mean']:.3f} [{r['canon_min']:.3f}, {r['canon_max']:.3f}]"
                if r["canon_mean"] is not None
                else "n/a"
            )
            lines.append(
                f"| {r['row']} | {r['seeds']} | {r['mean']:.3f} [{r['min']:.3f}, {r['max']:.3f}] | {c} | "
                f"{r['seconds']:.0f} |"
            )
        out.with_suffix(".md").write_text("\n".join(lines) + "\n")

    def run(model: str, pretrained, seeds: int, epochs: int = 1) -> list:
        res = []
        for s in range(seeds):
            cfg = TrainConfig(
                model=model,
                data="all_idb2",
                data_root=a.data_root,
                imgsz=a.imgsz,
                pretrained=pretrained,
                folds=5,
                group_by="overlap",
                n_boot=0,
                final_fit=False,
                fit_splits=("train", "val"),
                fold_seeds=1,  # the dev crops; seeds repeat here
                fit=FitCfg(epochs=epochs, batch=16, lr=1e-3, seed=s, device="cpu"),
            )
            res.append(cross_validate(cfg, cells))
        return res

    for arch in archs if a.seeds > 0 else []:
        blood = a.backbones if a.backbones == "pbc" else a.backbones.format(arch=arch)
        for init, pre in (("scratch", False), ("pbc", blood)):
            t0 = time.time()
            rows.append(_row(f"{arch}+svm frozen, {init}", run(f"{arch}+svm", pre, a.seeds)))
            print(f"{rows[-1]['row']}: {rows[-1]['mean']:.3f} ({time.time() - t0:.0f} s)", flush=True)
            save()
    if a.finetune:
        for arch in (a.finetune_archs or a.archs).split(","):
            blood = a.backbones if a.backbones == "pbc" else a.backbones.format(arch=arch)
            for init, pre in (("scratch", False), ("pbc", blood)):
                t0 = time.time()
                rows.append(
                    _row(f"{arch} fine-tuned {a.epochs} ep, {init}", run(arch, pre, a.finetune_seeds, a.epochs))
                )
                print(f"{rows[-1]['row']}: {rows[-1]['mean']:.3f} ({time.time() - t0:.0f} s)", flush=True)
                save()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
