"""TXL-PBC (YOLO) -> canonical detection form, labels as they are.

``exclude`` names a text file of images to drop (file names or stems, one a line), e.g.
the TXL-PBC images that are copies of BCCD images when evaluating across the two sets.
"""

from __future__ import annotations

from pathlib import Path

from leukoscan.data._registry import converter
from leukoscan.data.quality import QualityReport
from leukoscan.data.yolo import convert_yolo_folder, read_exclude, yolo_names

TXL_NAMES = ["WBC", "RBC", "Platelets"]


@converter("txl_pbc")
def convert_txl_pbc(
    src: Path,
    stage: Path,
    final: Path,
    report: QualityReport,
    *,
    progress: bool = True,
    exclude: str | Path | None = None,
) -> None:
    """TXL-PBC: YOLO labels as they are (0 WBC, 1 RBC, 2 Platelets); ``exclude`` drops listed images."""
    names = yolo_names(src, None) or TXL_NAMES
    if names != TXL_NAMES:
        report.note(f"data.yaml names {names} differ from the card's {TXL_NAMES}; data.yaml used")
    convert_yolo_folder(
        src,
        stage,
        final,
        report,
        names=names,
        exclude=read_exclude(exclude) if exclude else set(),
        progress=progress,
    )
