"""Synthetic blood smears with known boxes, for tests and the ``demo`` datasets.

A smear is a pale background with many small pink red cells (central pallor), a few
large purple nucleated leukocytes and a few small purple platelets:

- ``blast`` leukocytes are larger, with a big round nucleus (fine chromatin, sometimes a
  nucleolus) and a thin rim of bluish cytoplasm;
- ``leukocyte`` (normal) cells are smaller, with either a lobed nucleus (3-4 lobes) or a
  small dense round nucleus, and more pale cytoplasm.

Sizes scale with ``min(height, width) / 480`` (480 px ~ a BCCD field), so any image size
works. Everything is drawn with numpy on small windows: a 640x480 smear takes a few ms.
Boxes are ``xyxy`` float32 pixels (x2/y2 exclusive edges), tight around each drawn cell.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

LABELS = ("blast", "leukocyte", "rbc", "platelet")

_BACKGROUND = np.array([236.0, 226.0, 222.0])
_RBC = np.array([222.0, 140.0, 150.0])
_RBC_PALLOR = np.array([238.0, 190.0, 192.0])
_PLATELET = np.array([140.0, 80.0, 160.0])
_BLAST_NUC = np.array([120.0, 70.0, 165.0])
_BLAST_CYT = np.array([170.0, 175.0, 215.0])
_NORM_NUC = np.array([85.0, 35.0, 125.0])
_NORM_CYT = np.array([225.0, 195.0, 215.0])


@dataclass
class Smear:
    """``image`` RGB uint8 (H, W, 3); ``boxes`` float32 (N, 4) xyxy pixels; ``labels`` N names."""

    image: np.ndarray
    boxes: np.ndarray
    labels: list[str] = field(default_factory=list)

    def select(self, names: set[str] | tuple[str, ...]) -> Smear:
        keep = [i for i, lab in enumerate(self.labels) if lab in names]
        return Smear(self.image, self.boxes[keep].reshape(-1, 4), [self.labels[i] for i in keep])


def _ellipse_alpha(img: np.ndarray, cx: float, cy: float, a: float, b: float, theta: float):
    """Window slices and soft coverage alpha (h, w) plus normalised radius d for an ellipse."""
    h, w = img.shape[:2]
    r = max(a, b) + 1.5
    x0, x1 = max(int(cx - r), 0), min(int(cx + r) + 2, w)
    y0, y1 = max(int(cy - r), 0), min(int(cy + r) + 2, h)
    if x1 <= x0 or y1 <= y0:
        return None
    dy = np.arange(y0, y1, dtype=np.float32)[:, None] + np.float32(0.5 - cy)
    dx = np.arange(x0, x1, dtype=np.float32)[None, :] + np.float32(0.5 - cx)
    c, s = np.float32(np.cos(theta)), np.float32(np.sin(theta))
    u, v = (dx * c + dy * s) * np.float32(1 / a), (dy * c - dx * s) * np.float32(1 / b)
    d = np.sqrt(u * u + v * v)
    alpha = np.clip((1.0 - d) * np.float32(min(a, b)) + np.float32(0.5), 0.0, 1.0)
    return (slice(y0, y1), slice(x0, x1)), alpha, d


def _paint(img: np.ndarray, cx, cy, a, b, theta, colour, *, opacity=1.0, pallor=None) -> None:
    got = _ellipse_alpha(img, cx, cy, a, b, theta)
    if got is None:
        return
    win, alpha, d = got
    a3 = (alpha * np.float32(opacity))[..., None]
    col = np.asarray(colour, np.float32)
    if pallor is not None:  # lighter centre (RBC central pallor)
        t = np.clip(1.0 - d * np.float32(1 / 0.6), 0.0, 1.0)[..., None]
        col = col + (np.asarray(pallor, np.float32) - col) * t
    region = img[win]
    region += (col - region) * a3


def _box(cx, cy, r, h, w) -> list[float]:
    return [max(cx - r, 0.0), max(cy - r, 0.0), min(cx + r, float(w)), min(cy + r, float(h))]


def _draw_leukocyte(img, rng, cx, cy, radius, blast: bool) -> None:
    theta = rng.uniform(0, np.pi)
    ecc = rng.uniform(0.9, 1.0)
    if blast:
        _paint(img, cx, cy, radius, radius * ecc, theta, _BLAST_CYT + rng.normal(0, 6, 3))
        nr = radius * rng.uniform(0.78, 0.88)
        ox, oy = rng.normal(0, radius * 0.04, 2)
        _paint(
            img,
            cx + ox,
            cy + oy,
            nr,
            nr * rng.uniform(0.9, 1.0),
            theta,
            _BLAST_NUC + rng.normal(0, 6, 3),
        )
        for _ in range(int(rng.integers(0, 3))):  # nucleoli
            px, py = rng.normal(0, nr * 0.3, 2)
            nn = max(nr * 0.14, 1.0)
            _paint(img, cx + ox + px, cy + oy + py, nn, nn, 0.0, _BLAST_CYT, opacity=0.6)
        return
    _paint(img, cx, cy, radius, radius * ecc, theta, _NORM_CYT + rng.normal(0, 6, 3))
    if rng.random() < 0.6:  # lobed (neutrophil-like): lobes along an arc
        k = int(rng.integers(3, 5))
        lr = radius * 0.31
        start = rng.uniform(0, 2 * np.pi)
        for i in range(k):
            ang = start + i * 0.95
            lx, ly = cx + np.cos(ang) * radius * 0.38, cy + np.sin(ang) * radius * 0.38
            _paint(img, lx, ly, lr, lr * 0.8, ang, _NORM_NUC + rng.normal(0, 6, 3))
    else:  # small dense round nucleus (lymphocyte-like)
        nr = radius * rng.uniform(0.5, 0.6)
        ox, oy = rng.normal(0, radius * 0.1, 2)
        _paint(img, cx + ox, cy + oy, nr, nr * 0.92, theta, _NORM_NUC * 0.9)


def _place(rng, h, w, r, taken: list[tuple[float, float, float]], min_gap: float, tries=60):
    """A centre keeping the disc inside the image and away from discs in ``taken``."""
    cxs = rng.uniform(min(r, w / 2), max(w - r, w / 2), tries)
    cys = rng.uniform(min(r, h / 2), max(h - r, h / 2), tries)
    if not taken:
        return float(cxs[0]), float(cys[0])
    t = np.asarray(taken, np.float64)
    d2 = (cxs[:, None] - t[None, :, 0]) ** 2 + (cys[:, None] - t[None, :, 1]) ** 2
    ok = np.all(d2 >= (r + t[None, :, 2] + min_gap) ** 2, axis=1)
    i = int(np.argmax(ok))
    return (float(cxs[i]), float(cys[i])) if ok[i] else None


def _background(rng, h, w) -> np.ndarray:
    base = (_BACKGROUND + rng.normal(0, 4, 3)).astype(np.float32)
    gy = np.linspace(-1, 1, h, dtype=np.float32)[:, None] * np.float32(rng.uniform(-6, 6))
    gx = np.linspace(-1, 1, w, dtype=np.float32)[None, :] * np.float32(rng.uniform(-6, 6))
    return (gy + gx)[..., None] + base


def _finish(img: np.ndarray, rng) -> np.ndarray:
    noise = rng.standard_normal(img.shape[:2], dtype=np.float32)[..., None]
    img += noise * np.float32(3.0)
    return np.clip(img, 0, 255, out=img).astype(np.uint8)


def make_smear(
    height: int = 480,
    width: int = 640,
    *,
    seed: int | np.random.Generator | None = 0,
    n_leukocytes: int | None = None,
    blast_fraction: float = 0.5,
    n_rbc: int | None = None,
    n_platelets: int | None = None,
) -> Smear:
    """Draw one synthetic smear of ``height`` x ``width`` pixels.

    ``n_leukocytes`` defaults to 1-3 per 640x480 of area (at least 1); each is a blast
    with probability ``blast_fraction``. Returns boxes xyxy float32 pixels and labels from
    ``{"blast", "leukocyte", "rbc", "platelet"}`` (leukocytes first, then RBCs, platelets).
    """
    if height < 8 or width < 8:
        raise ValueError(f"smear must be at least 8x8 pixels, got {height}x{width}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    h, w = int(height), int(width)
    scale = min(h, w) / 480.0
    area = h * w / (640.0 * 480.0)
    img = _background(rng, h, w)
    boxes: list[list[float]] = []
    labels: list[str] = []
    taken: list[tuple[float, float, float]] = []
    if n_leukocytes is None:
        n_leukocytes = max(1, int(round(rng.integers(1, 4) * area)))
    for _ in range(n_leukocytes):
        blast = bool(rng.random() < blast_fraction)
        r = max(3.0, scale * (rng.uniform(52, 62) if blast else rng.uniform(38, 48)))
        pos = _place(rng, h, w, r, taken, min_gap=2.0 * scale)
        if pos is None:
            continue
        taken.append((pos[0], pos[1], r))
        _draw_leukocyte(img, rng, pos[0], pos[1], r, blast)
        boxes.append(_box(pos[0], pos[1], r, h, w))
        labels.append("blast" if blast else "leukocyte")
    if n_rbc is None:
        n_rbc = int(rng.integers(60, 80) * h * w / (scale * scale * 640.0 * 480.0))
    for _ in range(n_rbc):
        r = max(2.0, scale * rng.uniform(20, 26))
        pos = _place(rng, h, w, r, taken, min_gap=-0.25 * r, tries=20)
        if pos is None:
            continue
        taken.append((pos[0], pos[1], r))
        ecc = rng.uniform(0.88, 1.0)
        _paint(
            img,
            pos[0],
            pos[1],
            r,
            r * ecc,
            rng.uniform(0, np.pi),
            _RBC + rng.normal(0, 3, 3) + rng.normal(0, 8),
            pallor=_RBC_PALLOR,
        )
        boxes.append(_box(pos[0], pos[1], r, h, w))
        labels.append("rbc")
    if n_platelets is None:
        n_platelets = int(rng.integers(1, 5) * max(area, 0.25))
    for _ in range(n_platelets):
        r = max(1.5, scale * rng.uniform(5, 8))
        pos = _place(rng, h, w, r, taken, min_gap=1.0, tries=30)
        if pos is None:
            continue
        taken.append((pos[0], pos[1], r))
        _paint(img, pos[0], pos[1], r, r * rng.uniform(0.7, 1.0), rng.uniform(0, np.pi), _PLATELET)
        boxes.append(_box(pos[0], pos[1], r, h, w))
        labels.append("platelet")
    arr = np.asarray(boxes, np.float32).reshape(-1, 4)
    return Smear(_finish(img, rng), arr, labels)


def make_cell_crop(size: int = 128, *, blast: bool, seed: int | np.random.Generator | None = 0) -> np.ndarray:
    """A single-cell crop (like ALL-IDB2): one leukocyte centred, red cells around it.

    Returns RGB uint8 ``(size, size, 3)``; the cell diameter is about 55-70 % of ``size``.
    """
    if size < 16:
        raise ValueError(f"crop size must be >= 16 px, got {size}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    img = _background(rng, size, size)
    cr = size * (rng.uniform(0.32, 0.36) if blast else rng.uniform(0.26, 0.30))
    c = size / 2.0 + rng.normal(0, size * 0.02, 2)
    for _ in range(int(rng.integers(3, 8))):
        r = size * rng.uniform(0.10, 0.13)
        ang = rng.uniform(0, 2 * np.pi)
        dist = cr + r * rng.uniform(0.9, 2.2)
        x, y = c[0] + np.cos(ang) * dist, c[1] + np.sin(ang) * dist
        _paint(
            img,
            x,
            y,
            r,
            r * rng.uniform(0.88, 1.0),
            0.0,
            _RBC + rng.normal(0, 3, 3) + rng.normal(0, 8),
            pallor=_RBC_PALLOR,
        )
    _draw_leukocyte(img, rng, float(c[0]), float(c[1]), cr, blast)
    return _finish(img, rng)
