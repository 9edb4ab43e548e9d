"""Large slides: tiled training data and sliced inference with merging.

Tiling (training). A slide of ``H x W`` pixels is cut into square tiles of ``tile``
pixels whose starts are ``0, stride, 2*stride, ...`` with ``stride = tile - overlap``;
the last tile on each axis is shifted back to end exactly at the border (so every
pixel is covered and no tile is padded). A slide no larger than ``tile`` on an axis
gives one tile (the whole axis) there.

Rule for boxes cut by a tile border: a box is kept in a tile, clipped to the tile, when
at least ``min_visibility`` (default 0.5) of its area lies inside that tile; otherwise
it is dropped from that tile. With ``overlap`` at least one cell diameter, every cell
lies whole in some tile, so dropping a sliver never loses a cell from training; a cell
cut in half is still labelled (clipped) rather than shown as unlabelled background.

Tile size and overlap for training follow the cells' size in pixels, not the network's
input size (:func:`plan_tiles`): ``overlap`` = 1.25 x the 99th percentile of the larger
box side in the training split (so a cell cut by one tile border is whole in the next),
``tile`` = max(imgsz, 3 x overlap). Explicit ``tile.size`` / ``tile.overlap`` are kept. A
plan that would make more than ``max_tiles`` tiles is refused with the numbers.

Sliced inference. ``supervision.InferenceSlicer`` runs the detector on overlapping
tiles, shifts boxes back to slide pixels and merges duplicates from overlaps with
per-class non-maximum suppression at ``iou``, measured as intersection over the smaller
box (IoS): a cell cut by a slice border gives a partial box in one slice and the whole
box in the next, and a half box has IoU of only 0.5 with the whole one, while it lies
inside it (IoS 1.0). On ALL-IDB1 dev-val (30-epoch YOLOv8n) IoS instead of IoU at 0.6
removed duplicate blast boxes without losing a blast (benchmarks/README.md).
``BaseDetector.predict`` slices automatically above a size threshold (see :mod:`leukoscan.detect.base`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from leukoscan.data.canonical import (
    DetImage,
    read_detection,
    read_names,
    staged_output,
    write_detection,
)
from leukoscan.detect.defaults import NMS_IOU
from leukoscan.errors import ConfigError
from leukoscan.io import read_image

if TYPE_CHECKING:
    import supervision as sv


def _starts(n: int, tile: int, stride: int) -> list[int]:
    if n <= tile:
        return [0]
    starts = list(range(0, n - tile, stride))
    return starts + [n - tile]


def tile_grid(height: int, width: int, tile: int, overlap: int) -> list[tuple[int, int, int, int]]:
    """Tile windows ``(x0, y0, x1, y1)`` in pixels covering an ``height x width`` image."""
    if tile <= 0 or not 0 <= overlap < tile:
        raise ValueError(f"need tile > 0 and 0 <= overlap < tile (got tile={tile}, overlap={overlap})")
    stride = tile - overlap
    return [
        (x, y, min(x + tile, width), min(y + tile, height))
        for y in _starts(height, tile, stride)
        for x in _starts(width, tile, stride)
    ]


def boxes_in_tile(
    boxes: np.ndarray, labels: list[str], window: tuple[int, int, int, int], min_visibility: float = 0.5
) -> tuple[np.ndarray, list[str]]:
    """Boxes (N, 4 xyxy slide pixels) kept in ``window`` by the border rule, in tile pixels."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    x0, y0, x1, y1 = window
    clipped = np.stack(
        [boxes[:, 0].clip(x0, x1), boxes[:, 1].clip(y0, y1), boxes[:, 2].clip(x0, x1), boxes[:, 3].clip(y0, y1)], axis=1
    )
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    inside = (clipped[:, 2] - clipped[:, 0]) * (clipped[:, 3] - clipped[:, 1])
    keep = (area > 0) & (inside >= min_visibility * np.maximum(area, 1e-6))
    out = clipped[keep] - np.array([x0, y0, x0, y0], np.float32)
    return out, [lab for lab, k in zip(labels, keep, strict=True) if k]


def tile_dataset(
    src: str | Path,
    out: str | Path,
    *,
    splits: tuple[str, ...] = ("train", "val"),
    tile: int = 640,
    overlap: int = 128,
    min_visibility: float = 0.5,
    progress: bool = True,
) -> Path:
    """Write a canonical detection dataset at ``out`` made of tiles of ``src``'s splits.

    Tile file names are ``<stem>__x<x0>_y<y0>.jpg``. Returns ``out``.
    """
    from tqdm import tqdm

    names = read_names(src)
    out = Path(out)
    with staged_output(out, overwrite=True) as stage:
        tiled: dict[str, list[DetImage]] = {}
        for split in splits:
            items: list[DetImage] = []
            for rec in tqdm(read_detection(src, split), desc=f"tile {split}", disable=not progress, leave=False):
                img = read_image(rec.path)
                for win in tile_grid(img.shape[0], img.shape[1], tile, overlap):
                    boxes, labels = boxes_in_tile(rec.boxes, rec.labels, win, min_visibility)
                    x0, y0, x1, y1 = win
                    items.append(
                        DetImage(
                            f"{rec.path.stem}__x{x0}_y{y0}.jpg",
                            x1 - x0,
                            y1 - y0,
                            boxes,
                            labels,
                            array=np.ascontiguousarray(img[y0:y1, x0:x1]),
                        )
                    )
            tiled[split] = items
        write_detection(stage, out.absolute(), tiled, names, progress=False)
    return out


OVERLAP_PER_CELL = 1.25  # overlap / 99th-percentile cell side
TILE_PER_OVERLAP = 3  # auto tile side / overlap: stride = 2 x overlap


@dataclass(frozen=True)
class TilePlan:
    """``tile`` (0: no tiling) and ``overlap`` in pixels, how many tiles, from what cell size."""

    tile: int
    overlap: int
    cell_px: float  # 99th percentile of the larger box side in the training split
    n_tiles: int
    n_images: int


def cell_side_px(data_dir: str | Path, split: str = "train") -> float:
    """99th percentile of ``max(w, h)`` of the boxes of a prepared split (0 when it has none)."""
    coco = json.loads((Path(data_dir) / "annotations" / f"{split}.json").read_text())
    sides = [max(a["bbox"][2], a["bbox"][3]) for a in coco["annotations"]]
    return float(np.percentile(sides, 99)) if sides else 0.0


def _n_starts(n: int, tile: int, stride: int) -> int:
    return 1 if n <= tile else math.ceil((n - tile) / stride) + 1


def count_tiles(sizes: list[tuple[int, int]], tile: int, overlap: int) -> int:
    """Tiles :func:`tile_grid` makes for images of ``(height, width)`` ``sizes``."""
    stride = tile - overlap
    return sum(_n_starts(h, tile, stride) * _n_starts(w, tile, stride) for h, w in sizes)


def plan_tiles(
    data_dir: str | Path,
    splits: tuple[str, ...],
    *,
    mode: str,
    imgsz: int,
    size: int = 0,
    overlap: int = 0,
    auto_factor: float = 2.0,
    max_tiles: int = 20000,
) -> TilePlan:
    """Tile size/overlap from the cells' size (see the module docstring); ConfigError on a bad plan."""
    sizes = []
    for split in splits:
        coco = json.loads((Path(data_dir) / "annotations" / f"{split}.json").read_text())
        sizes += [(im["height"], im["width"]) for im in coco["images"]]
    cell = cell_side_px(data_dir, splits[0])
    ov = int(overlap) or math.ceil(OVERLAP_PER_CELL * cell)
    tile = int(size) or max(int(imgsz), TILE_PER_OVERLAP * ov)
    mode = str(mode).lower()
    if mode in ("off", "false", "0", "no"):
        return TilePlan(0, 0, cell, 0, len(sizes))
    if mode not in ("on", "true", "1", "yes", "auto"):
        raise ConfigError(f"tile.enabled must be auto, on or off (got {mode!r})")
    if mode == "auto" and max((max(s) for s in sizes), default=0) <= auto_factor * tile:
        return TilePlan(0, 0, cell, 0, len(sizes))
    if not 0 <= ov < tile:
        raise ConfigError(
            f"tile.overlap={ov} px must be smaller than the tile ({tile} px); cells here "
            f"measure up to {cell:.0f} px (99th percentile)"
        )
    n = count_tiles(sizes, tile, ov)
    if n > max_tiles:
        gb = n * tile * tile * 3 / 1e9
        raise ConfigError(
            f"tiling {len(sizes)} images into {tile} px tiles with {ov} px overlap (stride {tile - ov} px) "
            f"would make {n:,} tiles (~{gb:.1f} GB of pixels), over tile.max_tiles={max_tiles:,}; cells measure "
            f"up to {cell:.0f} px. Use a larger tile.size, a smaller tile.overlap, or tile.enabled=off"
        )
    return TilePlan(tile, ov, cell, n, len(sizes))


def dataset_max_side(data_dir: str | Path, split: str = "train", sample: int = 20) -> int:
    """Largest image side (pixels) among the first ``sample`` images of a prepared split."""
    import json

    coco = json.loads((Path(data_dir) / "annotations" / f"{split}.json").read_text())
    return max((max(im["width"], im["height"]) for im in coco["images"][:sample]), default=0)


SLICE_MERGE_METRIC = "IOS"  # see the module docstring; benchmarks/slice_merge.py compares with "IOU"


def sliced_predict(
    fn: Callable[[np.ndarray], sv.Detections],
    image: np.ndarray,
    *,
    tile: int,
    overlap: int,
    iou: float = NMS_IOU,
    metric: str | None = None,
) -> sv.Detections:
    """Run ``fn`` (RGB tile -> ``sv.Detections`` in tile pixels) over overlapping tiles.

    Returns ``sv.Detections`` in image pixels, duplicates merged by per-class NMS at
    ``iou``, with overlap measured by ``metric`` (default :data:`SLICE_MERGE_METRIC`,
    "IOS": intersection over the smaller box, see the module docstring; or "IOU").
    """
    import supervision as sv

    h, w = image.shape[:2]
    if max(h, w) <= tile:
        return fn(image)
    overlap = min(overlap, tile - 1)
    slicer = sv.InferenceSlicer(
        callback=fn,
        slice_wh=(tile, tile),
        overlap_wh=(overlap, overlap),
        overlap_filter="non_max_suppression",
        iou_threshold=iou,
        overlap_metric=metric or SLICE_MERGE_METRIC,
    )
    return slicer(image)
