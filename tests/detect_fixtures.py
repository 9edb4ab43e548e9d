"""Tiny synthetic detection datasets for the detect tests (imported by tests/test_detect_*.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

NAMES = ["WBC", "RBC", "Platelets"]
_TO = {"blast": "WBC", "leukocyte": "WBC", "rbc": "RBC", "platelet": "Platelets"}


def make_tiny_dataset(out: Path, *, n_train: int = 3, n_val: int = 2, h: int = 96, w: int = 128) -> Path:
    """Canonical dataset of tiny smears; train also holds one blank image with no boxes."""
    from leukoscan.data.canonical import DetImage, staged_output, write_detection
    from leukoscan.synthetic import make_smear

    splits: dict[str, list[DetImage]] = {}
    seed = 0
    for split, n in (("train", n_train), ("val", n_val)):
        items = []
        for i in range(n):
            s = make_smear(h, w, seed=seed, n_leukocytes=2)
            seed += 1
            items.append(DetImage(f"{split}_{i}.png", w, h, s.boxes, [_TO[x] for x in s.labels], array=s.image))
        splits[split] = items
    blank = np.full((h, w, 3), 235, np.uint8)
    splits["train"].append(DetImage("train_blank.png", w, h, np.zeros((0, 4), np.float32), [], array=blank))
    with staged_output(out, overwrite=True) as stage:
        write_detection(stage, Path(out).absolute(), splits, NAMES, progress=False)
    return Path(out)


def make_untrained_models(root: Path, *, n_train: int = 1, n_val: int = 1) -> dict[str, str]:
    """An untrained tiny Faster R-CNN weights file, a tiny CNN classifier run folder and a
    tiny dataset under ``root`` (enough for the tools to load; nothing is trained)."""
    from leukoscan import classify, detect

    det = detect.build(
        "fasterrcnn_mobilenet_v3_large_fpn",
        num_classes=3,
        class_names=NAMES,
        pretrained=False,
        imgsz=64,
        rois_per_image=16,
    )
    clf = classify.build("cnn", class_names=("blast", "normal"), imgsz=32, pretrained=False)
    (root / "clf").mkdir()
    clf.save(root / "clf")
    return {
        "det": str(det.save(root / "det.pt")),
        "clf": str(root / "clf"),
        "data": str(make_tiny_dataset(root / "data", n_train=n_train, n_val=n_val)),
    }
