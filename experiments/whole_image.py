"""Whole-image ALL-IDB1 classification (ALL patient vs healthy), the review's Tables 5-6.

Slides are read once, downscaled (JPEG draft decoding, then area resize) so the long side
is ``max_side`` px; nothing is written to disk. Per-slide feature extractors, each
``fn(slides) -> X (N, D)``:

- :func:`camera_features`: ``(width, height, is_canon)`` of the ORIGINAL file, is_canon from
  the JPEG's EXIF ``Make`` -- the camera-only baseline; it sees no pixel.
- :func:`global_features`: GLCM + LBP + first-order + colour statistics of the whole
  slide (mask = every pixel): "SVM / RF on image features". Scale-aware by default: the
  slide is first brought to a fixed scale (:func:`to_fixed_scale`: the typical red-cell
  radius becomes ``RBC_RADIUS_PX``), its aspect kept; ``scale_aware=False`` resizes it to a
  ``size`` px square as before (texture then depends on the image size and magnification).
- :func:`nucleus_patch_features`: a classical recipe applied to the slide's nuclei:
  the recipe's segmentation on the whole slide (``central=False``), the ``max_cells``
  largest nucleus-sized components (``AREA_RANGE`` of the slide area), a square patch
  of 3 x the nucleus equivalent diameter around each, resized to the recipe's size with
  its nucleus mask, cell mask and the recipe's feature sets; the slide's row is the mean
  over its patches plus the number of patches / ``max_cells`` (zeros when none found).
  This is an approximation of the papers' "segment lymphocytes, then classify".
- :func:`deep_features`: pooled features of a zoo backbone (random init offline), averaged
  over ``size`` px tiles of the slide at the fixed scale (``scale_aware=False``: the slide
  resized to ``size`` px square).

Scale: red cells are the ruler every smear carries (about 7.5 um wide whatever the disease).
:func:`cell_radius` estimates their radius in pixels from the slide itself (the upper
quartile of the distance-transform maxima of the cell mask, so touching cells still count
by their own centres and the few large leukocytes do not dominate); resizing a slide by f
moves it by f (checked on the ALL-IDB1 dev slides: 0.60-0.67 at f=0.6, 1.35-1.51 at f=1.5)
and the fixed-scale features stay put.

Shortcut: every Olympus slide (1712x1368) is ALL, so size, camera, colour cast and
magnification all predict the label; report Canon-only figures next to each number.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from leukoscan.classify.classical.features import compute, feature_names
from leukoscan.classify.classical.segmentation import segment_cell, segment_nucleus
from leukoscan.classify.model import DeepExtractor
from leukoscan.classify.preprocess import PreprocessCfg, resize_square
from leukoscan.data.all_idb1 import image_label
from leukoscan.errors import MissingDatasetError

AREA_RANGE = (3e-4, 3e-2)  # nucleus component area as a fraction of the slide area
MAX_SIDE = 768
RBC_RADIUS_PX = 8.0  # the typical red-cell radius of a slide at the fixed scale of the whole-slide features
MIN_PEAKS = 20  # fewer cell centres than this: no scale estimate, the slide is used as it is


@dataclass
class Slides:
    """Downscaled ALL-IDB1 slides: ``images`` RGB uint8, ``labels`` (1 = ALL), per-slide metadata."""

    images: list[np.ndarray]
    labels: np.ndarray
    stems: list[str]
    groups: list[str]  # allidb1_image_meta.csv group_id (overlapping fields share one)
    cameras: list[str]  # EXIF Make, first word ("Canon", "OLYMPUS")
    sizes: np.ndarray  # (N, 2) original width, height in px
    dev_split: list[str]  # allidb1_dev_split.csv: train / val

    def __len__(self) -> int:
        return len(self.images)


def _read_csv(path: Path) -> dict[str, dict[str, str]]:
    with open(path, newline="") as f:
        return {r["image"]: r for r in csv.DictReader(f)}


def read_slide(path: Path, max_side: int = MAX_SIDE) -> tuple[np.ndarray, tuple[int, int], str]:
    """``(rgb downscaled, (width, height) original, EXIF make first word)``."""
    import cv2
    from PIL import Image

    with Image.open(path) as im:
        w, h = im.size
        make = str(im.getexif().get(271, "")).strip().split(" ")[0] or "unknown"
        im.draft("RGB", (max(1, w * max_side // max(w, h)), max(1, h * max_side // max(w, h))))
        rgb = np.asarray(im.convert("RGB"))
    scale = max_side / max(rgb.shape[:2])
    if scale < 1:
        rgb = cv2.resize(rgb, (round(rgb.shape[1] * scale), round(rgb.shape[0] * scale)), interpolation=cv2.INTER_AREA)
    return rgb, (w, h), make


def load_slides(all_idb: str | Path, max_side: int = MAX_SIDE, read: tuple[str, ...] | None = None) -> Slides:
    """ALL-IDB1 slides under ``all_idb`` (the folder holding ``ALL_IDB1/`` and the CSVs).

    ``read``: decode only slides of these splits of ``allidb1_dev_split.csv`` (every slide
    when there is no split file, or ``read`` is None).
    """
    root = Path(all_idb)
    paths = sorted((root / "ALL_IDB1" / "im").glob("*.jpg"))
    if not paths:
        raise MissingDatasetError(f"{root / 'ALL_IDB1' / 'im'}: no .jpg slides")
    meta = _read_csv(root / "allidb1_image_meta.csv")
    split_path = root / "allidb1_dev_split.csv"
    split = {k: v["split"] for k, v in _read_csv(split_path).items()} if split_path.is_file() else {}
    if split and read is not None:
        paths = [p for p in paths if split.get(p.stem, "") in read]
    imgs, sizes, makes = [], [], []
    for p in paths:
        rgb, size, make = read_slide(p, max_side)
        imgs.append(rgb)
        sizes.append(size)
        makes.append(make)
    stems = [p.stem for p in paths]
    return Slides(
        imgs,
        np.array([image_label(s) for s in stems]),
        stems,
        [f"g{meta[s]['group_id']}" if s in meta else s for s in stems],
        makes,
        np.array(sizes, float),
        [split.get(s, "") for s in stems],
    )


def camera_features(slides: Slides) -> np.ndarray:
    """``(N, 3)``: original width, height, 1.0 if the EXIF make is Canon."""
    canon = np.array([c.lower() == "canon" for c in slides.cameras], float)
    return np.column_stack([slides.sizes, canon])


def cell_radius(rgb: np.ndarray) -> float | None:
    """The typical red-cell radius in pixels (None when fewer than ``MIN_PEAKS`` cell centres).

    Cells = the two darker classes of a 3-class Otsu on the green channel (background is the
    bright class); the radius is the upper quartile of the distance-transform local maxima.
    """
    import cv2
    from scipy import ndimage as ndi
    from skimage.filters import threshold_multiotsu

    g = cv2.GaussianBlur(np.ascontiguousarray(rgb[..., 1]), (5, 5), 0)
    if g.min() == g.max():
        return None
    cells = ndi.binary_fill_holes(ndi.binary_opening(g < threshold_multiotsu(g, classes=3)[1]))
    dist = cv2.distanceTransform(cells.astype(np.uint8), cv2.DIST_L2, 5)
    peaks = dist[(dist == ndi.maximum_filter(dist, size=5)) & (dist >= 2)]
    return float(np.percentile(peaks, 75)) if len(peaks) >= MIN_PEAKS else None


def to_fixed_scale(rgb: np.ndarray, radius: float = RBC_RADIUS_PX) -> np.ndarray:
    """``rgb`` resized (aspect kept) so its typical red-cell radius is ``radius`` px."""
    import cv2

    r = cell_radius(rgb)
    if r is None:
        return rgb
    f = radius / r
    h, w = rgb.shape[:2]
    size = (max(8, round(w * f)), max(8, round(h * f)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR)


def global_features(slides: Slides, size: int = 256, *, scale_aware: bool = True) -> np.ndarray:
    rows = []
    for img in slides.images:
        rgb = to_fixed_scale(img) if scale_aware else resize_square(img, size)
        full = np.ones(rgb.shape[:2], bool)
        rows.append(compute(("glcm", "lbp", "firstorder", "colour"), rgb, full, full))
    return np.stack(rows)


def _tiles(rgb: np.ndarray, size: int) -> list[np.ndarray]:
    """Non-overlapping ``size`` px tiles covering ``rgb`` (the last row/column shifted inside)."""
    h, w = rgb.shape[:2]
    if h <= size or w <= size:
        return [rgb]
    ys = sorted({*range(0, h - size, size), h - size})
    xs = sorted({*range(0, w - size, size), w - size})
    return [rgb[y : y + size, x : x + size] for y in ys for x in xs]


def nucleus_patches(
    rgb: np.ndarray, segmentation: str, *, max_cells: int = 12, seed: int = 0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Up to ``max_cells`` ``(patch rgb, patch nucleus mask)`` pairs, largest nuclei first."""
    from skimage import measure

    h, w = rgb.shape[:2]
    mask = segment_nucleus(rgb, segmentation, central=False, seed=seed, min_frac=AREA_RANGE[0])
    props = [
        p for p in measure.regionprops(measure.label(mask)) if AREA_RANGE[0] * h * w <= p.area <= AREA_RANGE[1] * h * w
    ]
    out = []
    for p in sorted(props, key=lambda p: -p.area)[:max_cells]:
        half = int(1.5 * p.equivalent_diameter_area) + 1
        cy, cx = (int(round(v)) for v in p.centroid)
        y0, y1, x0, x1 = max(cy - half, 0), min(cy + half, h), max(cx - half, 0), min(cx + half, w)
        comp = np.zeros((h, w), bool)
        comp[p.coords[:, 0], p.coords[:, 1]] = True
        out.append((rgb[y0:y1, x0:x1], comp[y0:y1, x0:x1]))
    return out


def nucleus_patch_features(slides: Slides, recipe, *, max_cells: int = 12, seed: int = 0) -> np.ndarray:
    """``(N, D + 1)``: mean recipe features over each slide's nucleus patches, + patch count."""
    import cv2

    dim = sum(len(feature_names(f)) for f in recipe.features)
    rows = []
    for img in slides.images:
        feats = []
        for patch, nuc in nucleus_patches(img, recipe.segmentation, max_cells=max_cells, seed=seed):
            rgb = resize_square(patch, recipe.size)
            n = cv2.resize(nuc.astype(np.uint8), (recipe.size, recipe.size), interpolation=cv2.INTER_NEAREST).astype(
                bool
            )
            if n.sum() >= 16:
                feats.append(compute(recipe.features, rgb, n, segment_cell(rgb, n)))
        mean = np.mean(feats, axis=0) if feats else np.zeros(dim)
        rows.append(np.concatenate([mean, [len(feats) / max_cells]]))
    return np.stack(rows)


def deep_features(
    slides: Slides, backbone: str, size: int = 128, seed: int = 0, *, scale_aware: bool = True
) -> np.ndarray:
    import torch

    from leukoscan.classify.models.torch_zoo import build_net  # heavy: imports torch

    torch.manual_seed(seed)
    net = build_net(backbone, num_classes=0, pretrained=False)
    ext = DeepExtractor(net, PreprocessCfg(input_size=size))
    if not scale_aware:
        return ext(slides.images)
    return np.stack([ext(_tiles(to_fixed_scale(img), size)).mean(axis=0) for img in slides.images])
