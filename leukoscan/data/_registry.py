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


def converter(
    name: str, *, needs_source: bool = True, kind: str = "detection", generic: bool = False
):
    def deco(fn: Callable[..., None]) -> Callable[..., None]:
        CONVERTERS.add(name, Converter(fn, needs_source, kind, generic))
        return fn

    return deco
