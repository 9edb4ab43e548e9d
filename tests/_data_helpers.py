"""Tiny raw datasets made in code for the data tests (no binary fixtures)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from leukoscan.data.voc import voc_xml
from leukoscan.io import write_image
from leukoscan.synthetic import make_smear

BCCD_LIKE = {"blast": "WBC", "leukocyte": "WBC", "rbc": "RBC", "platelet": "Platelets"}


def make_voc(
    root: Path, n: int = 3, hw: tuple[int, int] = (96, 128), seed: int = 0, splits: dict[str, list[int]] | None = None
) -> dict[str, tuple[np.ndarray, list[str]]]:
    """A VOC folder (Annotations/, JPEGImages/, ImageSets/Main/) -> {stem: (boxes, labels)}."""
    (root / "Annotations").mkdir(parents=True)
    (root / "JPEGImages").mkdir()
    truth = {}
    for i in range(n):
        s = make_smear(*hw, seed=seed + i)
        stem = f"img_{i:03d}"
        labels = [BCCD_LIKE[lab] for lab in s.labels]
        write_image(root / "JPEGImages" / f"{stem}.jpg", s.image)
        (root / "Annotations" / f"{stem}.xml").write_text(voc_xml(f"{stem}.jpg", hw[1], hw[0], s.boxes, labels))
        truth[stem] = (s.boxes.astype(np.float64), labels)
    splits = splits or {"train": list(range(n - 1)), "val": [n - 1]}
    (root / "ImageSets" / "Main").mkdir(parents=True)
    for name, idx in splits.items():
        (root / "ImageSets" / "Main" / f"{name}.txt").write_text("".join(f"img_{i:03d}\n" for i in idx))
    return truth


def make_all_idb1(root: Path, labels=(1, 1, 0, 0), tiles: int = 2, seed: int = 0) -> dict[str, dict]:
    """An ALL_IDB1-like folder: im/ImNNN_L.jpg built from tiles x tiles small smears (so cells
    are ~6 % of the width, like the real slides), xyc/ with blast centroids, other/ with the
    normal leukocytes' centroids plus one point on empty background per image."""
    for d in ("im", "xyc", "other"):
        (root / d).mkdir(parents=True)
    truth = {}
    for k, lab in enumerate(labels):
        rng = np.random.default_rng(seed + k)
        th, tw = 240, 320
        img = np.zeros((th * tiles, tw * tiles, 3), np.uint8)
        boxes, names = [], []
        for ty in range(tiles):
            for tx in range(tiles):
                s = make_smear(th, tw, seed=rng, n_leukocytes=1, blast_fraction=0.7 if lab else 0.0)
                img[ty * th : (ty + 1) * th, tx * tw : (tx + 1) * tw] = s.image
                for b, n in zip(s.boxes, s.labels, strict=True):
                    if n in ("blast", "leukocyte"):
                        boxes.append(b + [tx * tw, ty * th, tx * tw, ty * th])
                        names.append(n)
        stem = f"Im{k + 1:03d}_{lab}"
        write_image(root / "im" / f"{stem}.jpg", img)
        c = [((b[0] + b[2]) / 2, (b[1] + b[3]) / 2) for b in boxes]
        (root / "xyc" / f"{stem}.xyc").write_text(
            "".join(f"{x:.0f}\t{y:.0f}\n" for (x, y), n in zip(c, names, strict=True) if n == "blast")
        )
        other = [f"{x:.0f} {y:.0f}\n" for (x, y), n in zip(c, names, strict=True) if n == "leukocyte"] + ["3 3\n"]
        (root / "other" / f"{stem}.xyc").write_text("".join(other))
        truth[stem] = {"boxes": np.asarray(boxes), "labels": names}
    return truth
