"""BCCD (Pascal VOC) -> canonical detection form with the official ImageSets splits.

Splits come from ``ImageSets/Main/{train,val,test}.txt``. A split whose list is absent,
or whose listed images are all absent, is skipped with a note; single listed images that
are absent are reported (``missing_image``) and skipped. Boxes follow the VOC convention
and the cleaning rules of :mod:`leukoscan.data.quality`.
"""

from __future__ import annotations

from pathlib import Path

from leukoscan.data._registry import converter
from leukoscan.data.canonical import DetImage, write_detection
from leukoscan.data.quality import QualityReport
from leukoscan.data.voc import find_image, parse_voc, voc_image
from leukoscan.errors import DataError

BCCD_NAMES = ["WBC", "RBC", "Platelets"]


def read_split_list(path: Path) -> list[str]:
    ids = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    return list(dict.fromkeys(ids))  # drop repeats, keep order


@converter("bccd")
def convert_bccd(
    src: Path,
    stage: Path,
    final: Path,
    report: QualityReport,
    *,
    progress: bool = True,
    splits: tuple[str, ...] = ("train", "val", "test"),
) -> None:
    """``src`` is the BCCD folder (``Annotations/``, ``JPEGImages/``, ``ImageSets/Main/``)."""
    from tqdm import tqdm

    out: dict[str, list[DetImage]] = {}
    for split in splits:
        lst = src / "ImageSets" / "Main" / f"{split}.txt"
        if not lst.is_file():
            report.note(f"split {split!r} skipped: no {lst.relative_to(src)}")
            continue
        ids = read_split_list(lst)
        found = {i: find_image(src / "JPEGImages", i) for i in ids}
        if not any(found.values()):
            report.note(f"split {split!r} skipped: none of its {len(ids)} listed images is present")
            continue
        items = []
        for stem in tqdm(ids, desc=f"bccd {split}", disable=not progress, leave=False):
            if found[stem] is None:
                report.add("missing_image", f"{stem}.jpg", f"listed in {lst.name}", "skipped")
                continue
            xml = src / "Annotations" / f"{stem}.xml"
            if not xml.is_file():
                raise DataError(f"{xml}: missing annotation for image {found[stem]}")
            items.append(voc_image(parse_voc(xml), found[stem], BCCD_NAMES, report))
        out[split] = items
        report.count(split, [lab for it in items for lab in it.labels], len(items))
    if not out:
        raise DataError(f"{src}: no split with images found (looked for {', '.join(splits)})")
    seen: dict[str, str] = {}
    for split, items in out.items():
        for it in items:
            if it.file in seen:
                report.add("image_in_two_splits", it.file, f"{seen[it.file]} and {split}", "kept in both")
            seen.setdefault(it.file, split)
    write_detection(stage, final, out, BCCD_NAMES, progress=progress)
