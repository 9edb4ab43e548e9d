"""PBC (Acevedo et al. 2020, single normal blood cells, 8 classes) -> canonical cells form.

Layout read (as upstream, Mendeley Data doi 10.17632/snkd93bnjr.1): one folder per class,
``PBC/<class>/<name>.jpg`` (any image suffix, dot-names included). Every file is
decoded once: one that is not an image (upstream's ``neutrophil/.DS_169665.jpg`` is a
macOS ``.DS_Store`` folder file, not a picture) is left out and listed in the report. Classes: ``basophil``,
``eosinophil``, ``erythroblast``, ``ig`` (immature granulocytes), ``lymphocyte``,
``monocyte``, ``neutrophil``, ``platelet``.

Split: no patient or smear ids are published, so the split cannot be grouped by patient.
Each class is split on its own (stratified) by a seeded permutation of its sorted file
names into ``train`` / ``val`` / ``test`` (default 70 / 15 / 15 %). The ``group`` column
holds the file stem (each image is its own group). Crops are copied as they are, or, with
``center < 1``, cut to the centre ``center`` of their side and written as PNG.

``pbc_crops`` is the same data framed like the pipeline's type crops: the centre 0.6 of
each image (the cell, about a third of the image side, then fills about half of the crop,
as a detected cell does in the pipeline's type crop with margin 0.3).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from leukoscan.data._registry import converter
from leukoscan.data.canonical import CellImage, write_cells
from leukoscan.data.quality import QualityReport
from leukoscan.errors import ConfigError, DataError
from leukoscan.io import IMAGE_SUFFIXES, ImageReadError, read_image

PBC_CLASSES = ("basophil", "eosinophil", "erythroblast", "ig", "lymphocyte", "monocyte", "neutrophil", "platelet")
#: The white-cell types among the PBC classes (erythroblast = nucleated red cell; platelet = no cell).
PBC_LEUKOCYTES = ("basophil", "eosinophil", "ig", "lymphocyte", "monocyte", "neutrophil")


def class_files(src: Path) -> dict[str, list[Path]]:
    """``class -> sorted image paths`` for every class folder under ``src`` (dot-names included)."""
    out = {}
    for d in sorted(p for p in src.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = sorted(p for p in d.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if files:
            out[d.name] = files
    return out


def stratified_split(n: int, fractions: tuple[float, float, float], rng: np.random.Generator) -> list[str]:
    """``n`` split names (train/val/test) in a seeded random order, sizes by ``fractions``."""
    n_val, n_test = round(n * fractions[1]), round(n * fractions[2])
    names = ["test"] * n_test + ["val"] * n_val + ["train"] * (n - n_val - n_test)
    return [names[i] for i in rng.permutation(n)]


def _readable(files: list[Path], report: QualityReport, progress: bool) -> list[Path]:
    from tqdm import tqdm

    ok = []
    for p in tqdm(files, desc=f"pbc {files[0].parent.name}", disable=not progress, leave=False):
        try:
            read_image(p)
            ok.append(p)
        except ImageReadError as e:
            report.add("unreadable_image", p.name, str(e).split(": ", 1)[-1], "left out")
    return ok


def center_crop(image: np.ndarray, center: float) -> np.ndarray:
    """The centre square of ``image``, ``center`` of its shorter side."""
    h, w = image.shape[:2]
    side = max(8, int(round(min(h, w) * center)))
    y0, x0 = (h - side) // 2, (w - side) // 2
    return np.ascontiguousarray(image[y0 : y0 + side, x0 : x0 + side])


@converter("pbc", kind="cells")
def convert_pbc(
    src: Path,
    stage: Path,
    final: Path,
    report: QualityReport,
    *,
    progress: bool = True,
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
    seed: int = 0,
    center: float = 1.0,
) -> None:
    """``src`` = the PBC folder (one sub-folder per class)."""
    center = float(center)
    if not 0.1 <= center <= 1.0:
        raise ConfigError(f"pbc: center {center} must be in [0.1, 1]")
    val_fraction, test_fraction = float(val_fraction), float(test_fraction)
    if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ConfigError(f"pbc: val_fraction {val_fraction} + test_fraction {test_fraction} must be in [0, 1)")
    by_class = class_files(src)
    if not by_class:
        raise DataError(f"{src}: no class folders with images (expected PBC/<class>/*.jpg)")
    unknown = sorted(set(by_class) - set(PBC_CLASSES))
    if unknown:
        report.note(f"class folders not in PBC's 8 classes kept as they are: {unknown}")
    report.note("split stratified by class, seeded; no patient ids exist, so it is not grouped by patient")
    rng = np.random.default_rng(int(seed))
    by_class = {c: _readable(files, report, progress) for c, files in by_class.items()}
    items = []
    for label, files in by_class.items():
        for p, split in zip(
            files,
            stratified_split(len(files), (1 - val_fraction - test_fraction, val_fraction, test_fraction), rng),
            strict=True,
        ):
            if center < 1.0:
                items.append(CellImage(f"{p.name}.png", label, p.stem, split, array=center_crop(read_image(p), center)))
            else:
                items.append(CellImage(p.name, label, p.stem, split, src=p))
    write_cells(stage, items, progress=progress)
    for split in ("train", "val", "test"):
        sel = [it.label for it in items if it.split == split]
        report.count(split, sel, len(sel))


#: Centre fraction of ``pbc_crops`` (the framing of :func:`convert_pbc_crops`).
PBC_CROPS_CENTER = 0.6


@converter("pbc_crops", kind="cells")
def convert_pbc_crops(
    src: Path, stage: Path, final: Path, report: QualityReport, *, progress: bool = True, seed: int = 0
) -> None:
    """PBC with the same seeded split, each image cut to its centre ``PBC_CROPS_CENTER``."""
    report.note(f"each image cut to its centre {PBC_CROPS_CENTER} (written as PNG)")
    convert_pbc(src, stage, final, report, progress=progress, seed=seed, center=PBC_CROPS_CENTER)
