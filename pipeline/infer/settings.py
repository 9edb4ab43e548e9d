"""The pipeline's settings, each with one default, and which value of a setting wins.

:class:`PipelineConfig` holds every inference setting once, with its default and its range
(checked on construction: a value out of range is a :class:`~leukoscan.errors.ConfigError`
from the Python API as from the command line). Defaults measured for a stage live with
that stage and are referred to here: the detector's score threshold and NMS IoU
(:mod:`leukoscan.detect.defaults`), the crop margin (:data:`leukoscan.classify.crops.CROP_MARGIN`).
Slide rules (``flag_pct``) are :class:`leukoscan.pipeline.report.summary.SlideRules`.

A pipeline trained by ``leukoscan train-all-pipeline`` chooses its own crop margin and
operating point (:data:`CHOSEN`; stored once, in its ``pipeline.json``).
:func:`resolve_settings` decides, once, the value each of them takes: a setting the user set
explicitly (a flag typed on the command line) overrides the pipeline's choice, and the
override is kept (:class:`Override`) so that every output's provenance says so ("set by
--conf, pipeline chose 0.05"); any other comes from the pipeline. Nothing is dropped silently.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from leukoscan.classify.crops import CROP_MARGIN
from leukoscan.detect.defaults import DETECT_CONF, NMS_IOU
from leukoscan.errors import ConfigError
from leukoscan.pipeline.infer.seam import GROUP_IOS
from leukoscan.schema import BLAST_THRESHOLD

#: The settings a trained pipeline chooses (``pipeline.json`` keys, PipelineConfig fields).
CHOSEN = ("margin", "conf", "reject", "blast_threshold")
MAX_MARGIN = 2.0  # crop margin per side, fraction of the box side
MIN_TILE, MAX_TILE = 32, 16384  # sliced-inference tile side, pixels


def _in_unit(name: str, v: float) -> None:
    if not 0.0 <= v <= 1.0:
        raise ConfigError(f"{name} must be in [0, 1], got {v}")


@dataclass(frozen=True)
class PipelineConfig:
    """Inference settings (``leukoscan infer`` flags of the same names, dashes for underscores)."""

    conf: float = DETECT_CONF  # detector score threshold
    iou: float = NMS_IOU  # detector NMS IoU
    tile: int | None = None  # None: slice large slides automatically; 0: never; N: tiles of N px
    margin: float = CROP_MARGIN  # crop margin per side, fraction of the box side
    leukocyte_classes: tuple[str, ...] = ("WBC", "leukocyte", "blast")
    blast_class: str = "blast"
    blast_threshold: float = (
        BLAST_THRESHOLD  # blast probability (fusion: blast share) at or above which a cell is a blast
    )
    # fusion pipelines only: a cell is dropped when the fusion's P(none) >= this (1: none dropped)
    reject: float = 1.0
    batch: int = 64
    max_det: int | None = None  # keep at most this many leukocytes per slide (highest scores); None: all
    # Boxes of one cell from different detector classes merge into one cell when their
    # intersection over the smaller box is >= this (leukoscan.pipeline.infer.seam); 0 keeps every box.
    group_ios: float = GROUP_IOS
    # The type stage (leukoscan.pipeline.infer.cell_types): run folder or file of a cell-type
    # classifier (leukoscan train-classifier --config configs/classify_types.yaml); None: no
    # differential. Its crops use their own margin (more context than the blast crops: the
    # framing of its training data, pbc_crops / bccd_types, see those converters).
    type_classifier: str | None = None
    type_margin: float = 0.3

    def __post_init__(self) -> None:
        for name in ("conf", "iou", "blast_threshold", "reject", "group_ios"):
            _in_unit(name, getattr(self, name))
        if not self.type_margin >= 0:
            raise ConfigError(f"type_margin must be >= 0 (a fraction of the box side), got {self.type_margin}")
        if not 0 <= self.margin <= MAX_MARGIN:
            raise ConfigError(f"margin must be in [0, {MAX_MARGIN:g}] (a fraction of the box side), got {self.margin}")
        if self.tile is not None and self.tile != 0 and not MIN_TILE <= self.tile <= MAX_TILE:
            raise ConfigError(f"tile must be None (auto), 0 (off) or {MIN_TILE}-{MAX_TILE} pixels, got {self.tile}")
        if self.max_det is not None and self.max_det < 1:
            raise ConfigError(f"max_det must be >= 1, got {self.max_det}")
        if self.batch < 1:
            raise ConfigError(f"batch must be >= 1, got {self.batch}")


@dataclass(frozen=True)
class Override:
    """A setting the user set over a trained pipeline's own choice."""

    value: float
    set_by: str  # "--conf" from the command line; the field name from the Python API
    pipeline_chose: float

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def resolve_settings(
    cfg: PipelineConfig, chosen: Mapping[str, float] | None, typed: Mapping[str, str]
) -> tuple[PipelineConfig, dict[str, Override]]:
    """-> (the settings in effect, the user's overrides of the pipeline's choices).

    ``cfg``: the settings given (defaults where the user set nothing). ``chosen``: a trained
    pipeline's choices (:data:`CHOSEN`), or None without one. ``typed``: the settings the
    user set explicitly, each with how (``{"conf": "--conf"}``): those keep ``cfg``'s value;
    every other chosen setting takes the pipeline's. Without a pipeline, ``reject`` cannot
    be set (only a fusion model rejects cells).
    """
    if chosen is None:
        if "reject" in typed:
            raise ConfigError(f"{typed['reject']} applies to a trained pipeline's fusion only (give --pipeline)")
        return cfg, {}
    keep = {k: float(v) for k, v in chosen.items() if k not in typed}
    overrides = {k: Override(float(getattr(cfg, k)), typed[k], float(chosen[k])) for k in chosen if k in typed}
    return dataclasses.replace(cfg, **keep), overrides


__all__ = ["CHOSEN", "MAX_MARGIN", "MAX_TILE", "MIN_TILE", "Override", "PipelineConfig", "resolve_settings"]
