"""ALL-IDB2 (single-cell crops) -> canonical classification (cells) form.

Class from the file-name suffix: ``_1`` -> ``blast``, ``_0`` -> ``normal``. The ``group``
column is the crop's source slide from a provenance CSV (columns ``crop,source_image``):
``provenance`` option, else ``allidb2_provenance.csv`` next to the ALL_IDB2 folder, else
empty. When a group is known and a slide split file is found (``split_file`` option, else
``allidb1_dev_split.csv`` next to the folder), ``split`` is the source slide's split.
Crops are copied as they are (TIFF); each is decoded once to catch unreadable files.
"""

from __future__ import annotations

from pathlib import Path

from leukoscan.data._registry import converter
from leukoscan.data.all_idb1 import image_label
from leukoscan.data.canonical import CellImage, write_cells
from leukoscan.data.quality import QualityReport
from leukoscan.data.splits import read_csv_table, read_split_file
from leukoscan.errors import DataError
from leukoscan.io import ImageReadError, list_images, read_image

CLASSES = {1: "blast", 0: "normal"}


def read_provenance(path: Path) -> dict[str, str]:
    rows = read_csv_table(path, ("crop", "source_image"), "provenance file")
    return {Path(r["crop"]).stem: Path(r["source_image"]).stem for r in rows}


@converter("all_idb2", kind="cells", side_files=("allidb2_provenance.csv", "allidb1_dev_split.csv"))
def convert_all_idb2(
    src: Path,
    stage: Path,
    final: Path,
    report: QualityReport,
    *,
    progress: bool = True,
    provenance: str | Path | None = None,
    split_file: str | Path | None = None,
) -> None:
    """``src`` = the ALL_IDB2 folder (``img/*.tif``)."""
    from tqdm import tqdm

    folder = src / "img" if (src / "img").is_dir() else src
    imgs = list_images(folder)
    if not imgs:
        raise DataError(f"{folder}: no images")
    prov_path = Path(provenance) if provenance else src.parent / "allidb2_provenance.csv"
    prov = read_provenance(prov_path) if (provenance or prov_path.is_file()) else {}
    report.note(f"groups from {prov_path}" if prov else "no provenance file: group column empty")
    split_path = Path(split_file) if split_file else src.parent / "allidb1_dev_split.csv"
    slide_split = read_split_file(split_path) if prov and (split_file or split_path.is_file()) else {}
    if slide_split:
        report.note(f"split = source slide's split in {split_path}")
    items = []
    for p in tqdm(imgs, desc="all_idb2", disable=not progress, leave=False):
        try:
            read_image(p)
        except ImageReadError as e:
            raise DataError(str(e)) from None
        group = prov.get(p.stem, "")
        if prov and not group:
            report.add("no_provenance", p.name, str(prov_path), "group left empty")
        split = slide_split.get(group, "") if group else ""
        if slide_split and group and not split:
            report.add("source_not_in_split_file", p.name, f"source {group}", "split left empty")
        items.append(CellImage(p.name, CLASSES[image_label(p.stem)], group, split, src=p))
    write_cells(stage, items, progress=progress)
    for split in sorted({it.split for it in items}):
        sel = [it.label for it in items if it.split == split]
        report.count(split or "all", sel, len(sel))
