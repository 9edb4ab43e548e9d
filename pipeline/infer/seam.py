"""The seam between the stages: one box per cell, the detector's evidence kept, one fused call.

A detector with per-class NMS (ultralytics' default) can return a ``blast`` box *and* a
``leukocyte`` box on the same cell; counting both inflates the leukocyte count and halves
the blast evidence. :func:`group_cells` merges overlapping leukocyte-class boxes
class-agnostically into one cell and keeps, per cell, the best score of each class:

- ``data[DET_BLAST]``: highest ``blast``-class confidence among the merged boxes (0 if none),
- ``data[DET_LEUK]``: highest confidence of any other leukocyte class (0 if none).

:class:`Fusion` turns those two scores and the classifier's ``P(blast)`` into three-way
probabilities ``blast`` / ``normal`` / ``none`` (``none`` = not an annotated leukocyte) with a
multinomial logistic regression stored as plain JSON numbers (nothing executable).
:func:`cell_labels` labels cells by one-to-one centroid matching (blasts first), the rule
the end-to-end evaluation uses.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from leukoscan.detect.evaluate import assign_centroids
from leukoscan.errors import DataError
from leukoscan.io import atomic_write_json
from leukoscan.schema import CLASS_NAME, DET_BLAST, DET_LEUK

CELL_LABELS = ("blast", "normal", "none")
FEATURES = ("det_blast", "det_leukocyte", "clf_blast")
GROUP_IOS = 0.6  # boxes of one cell overlap by intersection over the smaller box >= this


def _ios(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over the smaller box, ``(N, 4)`` x ``(M, 4)`` xyxy -> ``(N, M)``."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    return inter / np.maximum(np.minimum(area_a[:, None], area_b[None, :]), 1e-9)


def group_cells(det: Any, *, blast_class: str = "blast", ios: float = GROUP_IOS) -> Any:
    """Leukocyte-class ``sv.Detections`` -> one detection per cell (greedy, by confidence).

    ``ios`` 0 merges nothing (every box is a cell, with its own score in one of the two).
    Each cell keeps the box and class of its highest-scoring member and gains ``DET_BLAST``
    and ``DET_LEUK``. ``det`` must carry ``data["class_name"]``; it is not modified.
    """
    n = len(det)
    if n == 0:
        import supervision as sv

        out = sv.Detections.empty()
        out.data.update(
            {
                CLASS_NAME: np.array([], dtype=object),
                DET_BLAST: np.zeros(0, np.float32),
                DET_LEUK: np.zeros(0, np.float32),
            }
        )
        return out
    conf = np.asarray(det.confidence, np.float64)
    is_blast = np.asarray(det.data[CLASS_NAME], dtype=object) == blast_class
    order = np.argsort(-conf, kind="stable")
    overlap = _ios(det.xyxy[order].astype(np.float64), det.xyxy[order].astype(np.float64))
    owner = -np.ones(n, dtype=int)  # position in `order` of each box's cell head
    for i in range(n):
        if owner[i] >= 0:
            continue
        owner[i] = i
        free = (owner < 0) & (overlap[i] >= ios) if ios > 0 else np.zeros(n, bool)
        free[: i + 1] = False
        owner[free] = i
    heads = np.unique(owner)
    cells = det[order[heads]]
    s_blast = np.zeros(len(heads), np.float32)
    s_leuk = np.zeros(len(heads), np.float32)
    for k, h in enumerate(heads):
        members = order[owner == h]
        b = conf[members][is_blast[members]]
        lk = conf[members][~is_blast[members]]
        s_blast[k] = b.max() if len(b) else 0.0
        s_leuk[k] = lk.max() if len(lk) else 0.0
    cells.data[DET_BLAST] = s_blast
    cells.data[DET_LEUK] = s_leuk
    return cells


def cell_labels(xyxy: np.ndarray, blasts: np.ndarray, leukocytes: np.ndarray) -> np.ndarray:
    """Per box ``"blast"`` / ``"normal"`` / ``"none"``: blast centroids are matched first
    (one-to-one, centroid inside the box, nearest centre), then the other leukocyte
    centroids to the boxes left. ``xyxy`` (N, 4) pixels; centroids (K, 2) ``x, y``."""
    xyxy = np.asarray(xyxy, np.float64).reshape(-1, 4)
    blasts = np.asarray(blasts, np.float64).reshape(-1, 2)
    leukocytes = np.asarray(leukocytes, np.float64).reshape(-1, 2)
    labels = np.full(len(xyxy), "none", dtype=object)
    free = assign_centroids(blasts, xyxy) < 0
    labels[~free] = "blast"
    rest = np.flatnonzero(free)
    labels[rest[assign_centroids(leukocytes, xyxy[rest]) >= 0]] = "normal"
    return labels


def feature_matrix(det_blast: np.ndarray, det_leuk: np.ndarray, clf_blast: np.ndarray) -> np.ndarray:
    """``(N, 3)`` features in logit space (scores clipped to [1e-3, 1 - 1e-3])."""
    cols = [np.clip(np.asarray(v, np.float64), 1e-3, 1 - 1e-3) for v in (det_blast, det_leuk, clf_blast)]
    return np.stack([np.log(c / (1 - c)) for c in cols], axis=1) if len(cols[0]) else np.zeros((0, 3))


_OLD_OPERATING_POINT = ("conf", "reject", "blast")


@dataclass
class Fusion:
    """Multinomial logistic regression over :data:`FEATURES` -> ``P(blast, normal, none)``.

    The model only: its operating point (``conf``, ``reject``, blast threshold) is a pipeline
    setting (``PipelineConfig``; stored in ``pipeline.json``), applied by :func:`decide`.
    ``use`` switches inputs off (e.g. ``("det_blast", "det_leukocyte")`` for a detector-only
    fusion).
    """

    coef: list[list[float]] = field(default_factory=list)  # (3, F)
    intercept: list[float] = field(default_factory=list)  # (3,)
    use: tuple[str, ...] = FEATURES
    chosen_by: str = ""
    classes: tuple[str, ...] = CELL_LABELS

    def _x(self, x: np.ndarray) -> np.ndarray:
        return x[:, [FEATURES.index(f) for f in self.use]]

    def fit(self, x: np.ndarray, y: np.ndarray, *, c: float = 1.0) -> Fusion:
        """``x`` (N, 3) from :func:`feature_matrix`, ``y`` labels in :data:`CELL_LABELS`."""
        from sklearn.linear_model import LogisticRegression

        yi = np.array([self.classes.index(v) for v in y])
        missing = sorted(set(range(len(self.classes))) - set(yi.tolist()))
        if missing:
            raise DataError(f"fusion needs every class in training; missing {[self.classes[i] for i in missing]}")
        lr = LogisticRegression(C=c, max_iter=2000, class_weight="balanced").fit(self._x(x), yi)
        self.coef, self.intercept = lr.coef_.tolist(), lr.intercept_.tolist()
        return self

    def proba(self, x: np.ndarray) -> np.ndarray:
        """``(N, 3)`` probabilities in :data:`CELL_LABELS` order."""
        if not self.coef:
            raise RuntimeError("fusion model is not fitted")
        z = self._x(np.asarray(x, np.float64)) @ np.asarray(self.coef).T + np.asarray(self.intercept)
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["use"], d["classes"] = list(self.use), list(self.classes)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Fusion:
        # fusion.json files written before issue 19 also held the operating point (pipeline.json has it)
        d = {k: v for k, v in d.items() if k not in _OLD_OPERATING_POINT}
        d["use"], d["classes"] = tuple(d.get("use", FEATURES)), tuple(d.get("classes", CELL_LABELS))
        unknown = set(d) - {f.name for f in cls.__dataclass_fields__.values()}
        if unknown:
            raise DataError(f"fusion file has unknown keys {sorted(unknown)}")
        fusion = cls(**d)
        fusion.check()
        return fusion

    def check(self) -> None:
        """DataError unless the weights are finite numbers of shape (3, len(use))."""
        if not set(self.use) <= set(FEATURES) or tuple(self.classes) != CELL_LABELS:
            raise DataError(f"fusion inputs {list(self.use)} / classes {list(self.classes)} are not LeukoScan's")
        coef = np.asarray(self.coef, dtype=np.float64) if self.coef else np.zeros((0,))
        icpt = np.asarray(self.intercept, dtype=np.float64) if self.intercept else np.zeros((0,))
        if self.coef and (coef.shape != (len(CELL_LABELS), len(self.use)) or icpt.shape != (len(CELL_LABELS),)):
            raise DataError(f"fusion weights have shape {coef.shape}/{icpt.shape}, expected (3, {len(self.use)})/(3,)")
        if not (np.isfinite(coef).all() and np.isfinite(icpt).all()):
            raise DataError("fusion weights are not finite numbers")

    def save(self, path: str | Path) -> Path:
        atomic_write_json(Path(path), self.to_dict())
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> Fusion:
        return cls.from_dict(json.loads(Path(path).read_text()))


def blast_share(p: np.ndarray) -> np.ndarray:
    """``P(blast) / (P(blast) + P(normal))`` per row of ``(N, 3)`` fused probabilities."""
    return p[:, 0] / np.maximum(p[:, 0] + p[:, 1], 1e-12)


def decide(
    p: np.ndarray, det_conf: np.ndarray, *, conf: float, reject: float, blast: float
) -> tuple[np.ndarray, np.ndarray]:
    """-> (kept (N,) bool, blast (N,) bool): a cell is kept when ``P(none) < reject`` and the
    detector score ``max(det_blast, det_leukocyte) >= conf``; a kept cell is a blast when its
    blast share ``P(blast) / (P(blast) + P(normal)) >= blast``."""
    kept = (np.asarray(det_conf) >= conf) & (p[:, 2] < reject)
    return kept, kept & (blast_share(p) >= blast)
