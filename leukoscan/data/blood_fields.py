"""``blood_fields``: the openly licensed full-field smears in one detection set (BCCD + TXL-PBC).

One class map, ``WBC``, ``RBC``, ``Platelets``: both sources box all three classes on every
image, so no class has to be masked (a source that did not label a class would teach the
detector that those objects are background; ALL-IDB1, which boxes leukocytes only, is
therefore not part of this set).

Splits (files prefixed ``bccd_`` / ``txl_`` so names cannot collide):
- ``train``: BCCD train + TXL-PBC train, minus every TXL-PBC image that is a copy of a BCCD
  ``val`` image (found by content, :mod:`leukoscan.data.dedup`: TXL-PBC re-distributes
  resized, mirrored and colour-shifted BCCD images).
- ``val``: BCCD val, untouched (so "BCCD val mAP" means the same images as for the BCCD-only
  recipe).
- ``val_txl``: TXL-PBC val minus copies of any image in ``train`` (its BCCD-derived images
  that are copies of BCCD train images would otherwise be scored after being trained on):
  copies of BCCD full fields at the dedup threshold (0.35), copies of TXL-PBC train images
  at ``SINGLE_CELL_THRESHOLD`` (0.6): many TXL-PBC images are PBC/Raabin-style single
  centred cells, and two *different* such images correlate up to ~0.5 (one round blob in the
  middle); the same cell recoloured scores ~0.55+ (looked at by eye).
The copies found are listed in the quality report (``copy_of_bccd_val``, ``copy_of_train``).
BCCD's official test images are not used (held back), nor TXL-PBC test.

``blood_fields_txl`` is the TXL-PBC-only single-source set of the comparison (train = TXL-PBC
train minus copies of BCCD val; the same ``val`` and ``val_txl``).
"""

from __future__ import annotations

from pathlib import Path

from leukoscan.data._registry import converter
from leukoscan.data.bccd import BCCD_NAMES, read_split_list
from leukoscan.data.canonical import DetImage, write_detection
from leukoscan.data.dedup import COPY_THRESHOLD, find_copies
from leukoscan.data.quality import QualityReport
from leukoscan.data.voc import find_image, parse_voc, voc_image
from leukoscan.data.yolo import yolo_labels_as_det
from leukoscan.errors import DataError


def _bccd(src: Path, split: str, report: QualityReport) -> list[DetImage]:
    ids = read_split_list(src / "ImageSets" / "Main" / f"{split}.txt")
    out = []
    for stem in ids:
        img = find_image(src / "JPEGImages", stem)
        if img is None:
            report.add("missing_image", f"{stem}.jpg", f"BCCD {split}", "skipped")
            continue
        it = voc_image(parse_voc(src / "Annotations" / f"{stem}.xml"), img, BCCD_NAMES, report)
        it.file = f"bccd_{it.file}"
        out.append(it)
    return out


def _txl(src: Path, split: str, report: QualityReport) -> list[DetImage]:
    items = yolo_labels_as_det(src / "images" / split, src / "labels" / split, BCCD_NAMES, report)
    for it in items:
        it.file = f"txl_{it.file}"
    return items


SINGLE_CELL_THRESHOLD = 0.6


def _drop_copies(
    items: list[DetImage],
    ref: list[DetImage],
    kind: str,
    report: QualityReport,
    progress: bool,
    threshold: float = COPY_THRESHOLD,
) -> list[DetImage]:
    copies = find_copies([it.src for it in items], [r.src for r in ref], threshold=threshold, progress=progress)
    for it in items:
        if it.src in copies:
            other, corr = copies[it.src]
            report.add(kind, it.file, f"{other.name} (correlation {corr:.2f})", "left out")
    return [it for it in items if it.src not in copies]


def _convert(
    name: str,
    src: Path,
    stage: Path,
    final: Path,
    report: QualityReport,
    progress: bool,
    *,
    with_bccd_train: bool,
) -> None:
    bccd, txl = src / "BCCD", src / "TXL_PBC"
    for d in (bccd, txl):
        if not d.is_dir():
            raise DataError(f"{name}: {d} is missing (needs BCCD/ and TXL_PBC/ under the data root)")
    b_train, b_val = _bccd(bccd, "train", report), _bccd(bccd, "val", report)
    t_train = _drop_copies(_txl(txl, "train", report), b_val, "copy_of_bccd_val", report, progress)
    train = (b_train if with_bccd_train else []) + t_train
    t_val = _drop_copies(_txl(txl, "val", report), b_train, "copy_of_train", report, progress)
    t_val = _drop_copies(t_val, t_train, "copy_of_train", report, progress, SINGLE_CELL_THRESHOLD)
    report.note(
        f"copies found by content (high-pass thumbnail correlation, any flip): >= {COPY_THRESHOLD} "
        f"against BCCD fields, >= {SINGLE_CELL_THRESHOLD} against TXL-PBC train"
    )
    splits = {"train": train, "val": b_val, "val_txl": t_val}
    for split, items in splits.items():
        report.count(split, [lab for it in items for lab in it.labels], len(items))
    write_detection(stage, final, splits, BCCD_NAMES, progress=progress)


def _variant(name: str, *, with_bccd_train: bool, doc: str):
    """Register the converter ``name`` (``src`` = the data root holding ``BCCD/`` and ``TXL_PBC/``)."""

    def convert(src: Path, stage: Path, final: Path, report: QualityReport, *, progress: bool = True) -> None:
        _convert(name, src, stage, final, report, progress, with_bccd_train=with_bccd_train)

    convert.__doc__ = doc
    return converter(name)(convert)


convert_blood_fields = _variant(
    "blood_fields", with_bccd_train=True, doc="BCCD train + TXL-PBC train (the shipped detector's set)."
)
convert_blood_fields_txl = _variant(
    "blood_fields_txl",
    with_bccd_train=False,
    doc="The TXL-PBC-only single-source set of the comparison: train = TXL-PBC train minus copies of "
    "BCCD val (BCCD train is not used); ``val`` and ``val_txl`` as in ``blood_fields``.",
)
