"""The converter registry: ``name -> Converter`` (see :func:`leukoscan.data.prepare`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from leukoscan.registry import Registry

CONVERTERS = Registry("dataset")


@dataclass(frozen=True)
class Converter:
    """``fn(src, stage, final, report, *, progress, **opts)`` writes the canonical form into
    ``stage`` (``final`` is where it will live); ``src`` is None when ``needs_source`` is False."""

    fn: Callable[..., None]
    needs_source: bool = True
    kind: str = "detection"  # or "cells"
    generic: bool = False  # users' own folders (yolo/coco/voc): the source is the folder itself
    # files next to the source folder that the conversion reads when present (split, provenance,
    # meta CSVs): part of the cache key of a prepared copy
    side_files: tuple[str, ...] = ()


def converter(
    name: str,
    *,
    needs_source: bool = True,
    kind: str = "detection",
    generic: bool = False,
    side_files: tuple[str, ...] = (),
):
    def deco(fn: Callable[..., None]) -> Callable[..., None]:
        CONVERTERS.add(name, Converter(fn, needs_source, kind, generic, tuple(side_files)))
        return fn

    return deco
