"""The type stage of the pipeline: what kind of white cell each detected cell is.

Design: the blast decision stays where it is measured (blast classifier or fusion, on
ALL-IDB); a second classifier, trained on typed normal cells (PBC, BCCD), gives every
cell *not* called a blast its type. A single classifier of blasts and types together
would see blasts only in ALL-IDB images and types only in PBC/BCCD images, so it could
learn "which camera" instead of "which cell"; two classifiers keep each decision on the
data that holds its answer.

Per cell (``supervision.Detections.data``, keys in :mod:`leukoscan.schema`):

- a blast (``CELL_CLASS == blast_class``): ``CELL_TYPE`` = the blast class, ``TYPE_CONF``
  = its ``BLAST_PROB``;
- any other cell: the type classifier's most probable class and its probability; a class
  of :data:`~leukoscan.schema.NON_CELL_TYPES` (``platelet``: the detector boxed something
  that is not a white cell) leaves the cell untyped (``NOT_TYPED``), so it is not counted;
- no type classifier: every cell ``NOT_TYPED`` (NaN confidence).

The crops are cut like the blast crops (:func:`leukoscan.classify.crops.crop_detections`)
with the type stage's own margin (``PipelineConfig.type_margin``) at the type classifier's
declared input size.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from leukoscan.classify.crops import crop_detections
from leukoscan.errors import ConfigError
from leukoscan.schema import (
    BLAST_PROB,
    CELL_CLASS,
    CELL_TYPE,
    NON_CELL_TYPES,
    NOT_TYPED,
    TYPE_CONF,
    Classifier,
)

if TYPE_CHECKING:
    import supervision as sv


def check_type_classifier(clf: Classifier, blast_class: str = "blast") -> None:
    """A type classifier names cell types: at least two classes, none of them the blast class."""
    names = list(clf.class_names)
    if blast_class in names:
        raise ConfigError(
            f"type classifier {getattr(clf, 'name', '?')!r} has a {blast_class!r} class "
            f"({names}): blasts are called by the blast stage; train the type classifier "
            "on typed normal cells (e.g. --data pbc_crops)"
        )
    if len([n for n in names if n not in NON_CELL_TYPES]) < 2:
        raise ConfigError(f"type classifier classes {names}: need at least two cell types")


def type_probs(image: np.ndarray, det: sv.Detections, clf: Classifier, *, margin: float, batch: int = 64) -> np.ndarray:
    """The type classifier's class probabilities ``(N, C)`` float32 for every cell of ``det``."""
    size = int(clf.preprocess.input_size)
    out = np.zeros((len(det), len(clf.class_names)), dtype=np.float32)
    for s in range(0, len(det), batch):
        crops = crop_detections(image, det.xyxy[s : s + batch], margin=margin, size=size)
        out[s : s + len(crops)] = clf.predict_proba(crops)
    return out


def assign_types(
    det: sv.Detections,
    proba: np.ndarray | None,
    class_names: tuple[str, ...] | list[str],
    *,
    blast_class: str = "blast",
) -> sv.Detections:
    """Set ``data[CELL_TYPE]`` / ``data[TYPE_CONF]`` on ``det`` (in place) and return it.

    ``proba``: ``(N, C)`` type probabilities over ``class_names`` (None: no type classifier).
    """
    n = len(det)
    types = np.full(n, NOT_TYPED, dtype=object)
    conf = np.full(n, np.nan, dtype=np.float32)
    if proba is not None and n:
        names = np.asarray(list(class_names), dtype=object)
        best = np.asarray(proba).argmax(1)
        types[:] = names[best]
        conf[:] = np.asarray(proba)[np.arange(n), best]
        non_cell = np.isin(types, NON_CELL_TYPES)
        types[non_cell], conf[non_cell] = NOT_TYPED, np.nan
        calls = np.asarray(det.data.get(CELL_CLASS, np.full(n, "", dtype=object)), dtype=object)
        blast = calls == blast_class
        types[blast] = blast_class
        conf[blast] = np.asarray(det.data.get(BLAST_PROB, np.full(n, np.nan)), dtype=np.float32)[blast]
    det.data[CELL_TYPE] = types
    det.data[TYPE_CONF] = conf
    return det


__all__ = ["assign_types", "check_type_classifier", "type_probs"]
