"""The pipeline's settings as command-line flags, one definition for every command that has them
(``infer``, ``evaluate-pipeline``, ``prepare-data``).

A flag is the setting's name with dashes (``--blast-threshold`` = ``blast_threshold``) and
defaults to None, "not typed": the defaults live once, in
:class:`~leukoscan.pipeline.infer.settings.PipelineConfig` and
:class:`~leukoscan.pipeline.report.summary.SlideRules` (the help text shows them), and a
typed value can be told from a default. Next to ``--pipeline`` a typed margin, conf, reject
or blast threshold overrides the trained pipeline's own choice, and the outputs' provenance
says so ("set by --conf, pipeline chose 0.05"); see
:func:`~leukoscan.pipeline.infer.settings.resolve_settings`.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from leukoscan.errors import ConfigError
from leukoscan.pipeline.infer.settings import PipelineConfig
from leukoscan.pipeline.report.summary import SlideRules

_CFG, _RULES = PipelineConfig(), SlideRules()
_RULE_FIELDS = {f.name for f in dataclasses.fields(SlideRules)}


def _tile(raw: str) -> int | None:
    tile = {"auto": None, "off": 0}.get(raw, -1)
    if tile != -1:
        return tile
    if not raw.isdigit():
        raise ConfigError(f"--tile must be auto, off or a number of pixels, not {raw!r}")
    return int(raw)


#: setting -> (type, help); the help's ``{}`` is filled with the default
SETTINGS: dict[str, tuple[Any, str]] = {
    "conf": (float, "detector score threshold (default {}; with --pipeline: the pipeline's)"),
    "iou": (float, "detector NMS IoU threshold (default {})"),
    "max_det": (int, "keep at most this many leukocytes per slide (default: all)"),
    "tile": (str, "sliced inference: auto (large slides only, default), off, or a tile size in pixels"),
    "margin": (
        float,
        "crop margin per side, as a fraction of the box side (default {}; with --pipeline: the pipeline's)",
    ),
    "blast_threshold": (
        float,
        "blast probability (fusion: blast share) at or above which a cell is a blast "
        "(default {}; with --pipeline: the pipeline's)",
    ),
    "reject": (float, "with --pipeline: drop a cell when the fusion's P(none) >= this (default: the pipeline's)"),
    "group_ios": (
        float,
        "merge a cell's boxes across detector classes at this intersection over the smaller "
        "box (default {}; 0: keep every box)",
    ),
    "type_classifier": (
        str,
        "cell-type classifier run folder or weights file: the differential (each cell not "
        "called a blast gets its type; train one: leukoscan train-classifier --config "
        "configs/classify_types.yaml); default: none",
    ),
    "type_margin": (float, "crop margin per side of the type stage, as a fraction of the box side (default {})"),
    "flag_pct": (float, "flag a slide (call ALL) when its blast %% reaches this, by --flag-rule (default {})"),
    "flag_rule": (
        str,
        "lower: flag when the 95%% lower bound of blast %% reaches --flag-pct; point: when the "
        "point estimate does (default {})",
    ),
    "min_cells": (int, 'fewest leukocytes for a slide call; fewer: "insufficient cells" (default {})'),
    "uncertain_band": (float, "a cell is uncertain when |P(blast) - blast threshold| < this (default {})"),
}
ALL = tuple(SETTINGS)


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_pipeline_args(ap: argparse.ArgumentParser, names: tuple[str, ...] = ALL) -> None:
    """Add the flags of ``names`` (settings of :data:`SETTINGS`), each defaulting to None."""
    for name in names:
        typ, text = SETTINGS[name]
        default = getattr(_RULES if name in _RULE_FIELDS else _CFG, name)
        ap.add_argument(flag(name), dest=name, type=typ, default=None, help=text.format(default))


def typed_settings(
    args: argparse.Namespace, names: tuple[str, ...] = ALL
) -> tuple[PipelineConfig, SlideRules, dict[str, str]]:
    """-> (pipeline settings, slide rules, the settings typed: ``{name: flag}``).

    Settings not typed keep their defaults; a typed value out of range is a ConfigError
    naming the flag.
    """
    given = {n: getattr(args, n) for n in names if getattr(args, n) is not None}
    if "tile" in given:
        given["tile"] = _tile(str(given["tile"]))
    if "type_classifier" in given:  # absolute: Ray workers load it from their own working folder
        given["type_classifier"] = str(Path(given["type_classifier"]).absolute())
    fields = {f.name for f in dataclasses.fields(PipelineConfig)}
    for name, value in given.items():  # each alone first, so that the error names its flag
        try:
            PipelineConfig(**{name: value}) if name in fields else SlideRules(**{name: value})
        except ConfigError as e:
            raise ConfigError(f"{flag(name)}: {e}") from None
    cfg = PipelineConfig(**{k: v for k, v in given.items() if k in fields})
    rules = SlideRules(**{k: v for k, v in given.items() if k not in fields})
    return cfg, rules, {name: flag(name) for name in given}


__all__ = ["ALL", "SETTINGS", "add_pipeline_args", "flag", "typed_settings"]
