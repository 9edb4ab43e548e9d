"""Datasets: converters into one canonical on-disk form, with a data-quality report.

``prepare(name, ...)`` converts a dataset (``bccd``, ``all_idb1``, ``all_idb2``,
``txl_pbc``, ``pbc``, ``demo``, ``demo_cells``, or a user's ``yolo``/``coco``/``voc`` folder) into
the canonical form described in :mod:`leukoscan.data.canonical`. ``resolve(x)`` returns a
prepared folder for a dataset name or a folder, preparing it under ``runs/data/`` once.
"""

from __future__ import annotations

import inspect
import json
import os
from pathlib import Path
from typing import Any

from leukoscan.data import (  # noqa: F401  (register converters)
    all_idb1,
    all_idb2,
    bccd,
    bccd_types,
    blood_fields,
    coco,
    demo,
    pbc,
    txl_pbc,
    voc,
    yolo,
)
from leukoscan.data._registry import CONVERTERS
from leukoscan.data.canonical import (
    canonical_kind,
    read_detection,
    read_index,
    read_names,
    staged_output,
)
from leukoscan.data.cards import load_card, locate
from leukoscan.data.checks import cache_key, source_fingerprint
from leukoscan.data.coco import detect_format
from leukoscan.data.quality import QualityReport, format_summary
from leukoscan.errors import ConfigError, DataError, MissingDatasetError

__all__ = [
    "CONVERTERS",
    "canonical_kind",
    "format_summary",
    "list_datasets",
    "load_card",
    "locate",
    "prepare",
    "read_detection",
    "read_index",
    "read_names",
    "read_report",
    "resolve",
    "runs_data_dir",
]


def list_datasets() -> list[str]:
    return CONVERTERS.list_names()


def runs_data_dir() -> Path:
    """Where :func:`resolve` prepares datasets: ``$LEUKOSCAN_RUNS/data`` (default ``runs/data``)."""
    return Path(os.environ.get("LEUKOSCAN_RUNS", "runs")) / "data"


def prepare(
    name: str,
    *,
    data_root: str | Path | None = None,
    out: str | Path | None = None,
    source: str | Path | None = None,
    overwrite: bool = False,
    progress: bool = False,
    **opts: Any,
) -> Path:
    """Convert dataset ``name`` into the canonical form at ``out``; return ``out``.

    ``source`` overrides where the raw data is (default: located from the dataset card under
    ``data_root``; for ``yolo``/``coco``/``voc`` it is the user's folder, ``data_root`` is
    accepted as that folder too). Writes into a temporary sibling folder renamed at the end:
    on any error nothing is left at ``out``. Refuses a non-empty ``out`` unless ``overwrite``.
    Extra ``opts`` go to the converter (e.g. ``split_file``, ``exclude``, ``n_train``).
    """
    conv = CONVERTERS.get(name)
    _check_options(name, conv.fn, opts)
    out = Path(out) if out is not None else runs_data_dir() / name
    src: Path | None = None
    if conv.needs_source:
        if source is None and conv.generic:
            source = data_root
        if source is None and conv.generic:
            raise ConfigError(f"dataset {name!r} needs the folder to convert (source= / --source DIR)")
        src = Path(source) if source is not None else locate(name, data_root)
        if not src.is_dir():
            raise MissingDatasetError(f"{name}: source folder {src} does not exist")
        _check_not_inside(src, out)
    fingerprint = source_fingerprint(src) if src else None  # before reading: an edit meanwhile re-converts
    key = cache_key(src, side_files(conv, src, opts), opts)
    with staged_output(out, overwrite=overwrite) as stage:
        report = QualityReport(name)
        conv.fn(src, stage, out.absolute(), report, progress=progress, **opts)
        report.extra["source"] = str(src.absolute()) if src else None
        report.extra["source_fingerprint"] = fingerprint
        report.extra["cache_key"] = key
        report.extra["options"] = {k: str(v) for k, v in opts.items()}
        report.write(stage / "report.json")
    return out


def side_files(conv: Any, src: Path | None, opts: dict[str, Any]) -> list[Path]:
    """Files besides the source folder that define a conversion: the converter's declared
    side files next to ``src`` and every path option (``split_file``, ``provenance``)."""
    files = [src.parent / n for n in conv.side_files] if src is not None else []
    files += [Path(v) for k, v in sorted(opts.items()) if v and k in PATH_OPTIONS]
    return files


PATH_OPTIONS = ("split_file", "provenance")


def _check_not_inside(src: Path, out: Path) -> None:
    """``--out`` must not be the source, hold it, or lie inside it (inputs are only read)."""
    s, o = src.resolve(), out.expanduser().resolve()
    if s == o or o in s.parents:
        raise ConfigError(
            f"--out {out} is {'the source folder' if s == o else 'a folder holding the source'} "
            f"{src}; replacing it would delete the source data. Choose another --out"
        )
    if s in o.parents:
        raise ConfigError(
            f"--out {out} lies inside the source folder {src}; inputs are only read. Choose an --out outside it"
        )


def _check_options(name: str, fn: Any, opts: dict[str, Any]) -> None:
    """Options the converter does not take are a ConfigError naming them (not a TypeError later)."""
    params = inspect.signature(fn).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return
    extra = sorted(set(opts) - set(params))
    if extra:
        takes = sorted(k for k, p in params.items() if p.kind is p.KEYWORD_ONLY and k != "progress")
        raise ConfigError(
            f"dataset {name!r} does not take option(s) {', '.join(extra)} (it takes: {', '.join(takes) or 'none'})"
        )


def read_report(folder: str | Path) -> dict[str, Any]:
    return json.loads((Path(folder) / "report.json").read_text())


def resolve(name_or_folder: str | Path, *, data_root: str | Path | None = None) -> Path:
    """A prepared dataset folder for a dataset name, a prepared folder, or a VOC/YOLO/COCO folder.

    A folder already in canonical form is returned as is. A dataset name is prepared into
    ``runs/data/<name>/`` unless already there; a raw folder into ``runs/data/<folder>-<fmt>/``.
    """
    p = Path(name_or_folder)
    if p.is_dir():
        if canonical_kind(p):
            return p
        fmt = detect_format(p)
        if fmt is None:
            raise DataError(f"{p}: neither a prepared dataset nor a VOC/YOLO/COCO folder")
        out = runs_data_dir() / f"{p.name}-{fmt}"
        if canonical_kind(out) and _fresh(out, fmt, p):
            return out
        return prepare(fmt, source=p, out=out, overwrite=True)
    name = str(name_or_folder)
    if name not in CONVERTERS:
        raise ConfigError(f"{name!r} is neither a folder nor a dataset name (datasets: {', '.join(list_datasets())})")
    out = runs_data_dir() / name
    if canonical_kind(out) and _same_source(out, name, data_root):
        return out
    return prepare(name, data_root=data_root, out=out, overwrite=True)


def _fresh(out: Path, name: str, src: Path | None) -> bool:
    """The prepared ``out`` was converted from ``src``, its side files and options as they are
    now, by this version of the conversion code (:func:`leukoscan.data.checks.cache_key`)."""
    try:
        rep = read_report(out)
    except (OSError, ValueError):
        return False
    extra = rep.get("cache_key")
    if not extra or (src is not None and rep.get("source") != str(src.absolute())):
        return False
    opts = {k: v for k, v in extra.get("options", {}).items()}
    return extra == cache_key(src, side_files(CONVERTERS.get(name), src, opts), opts)


def _same_source(out: Path, name: str, data_root: str | Path | None) -> bool:
    """The cached conversion of dataset ``name`` still matches its raw files, side files and
    the conversion code.

    Raw data no longer found (moved, offline) while a conversion exists: the conversion is used.
    """
    if not CONVERTERS.get(name).needs_source:
        return _fresh(out, name, None)
    try:
        src = locate(name, data_root, download=False)
    except (MissingDatasetError, OSError, ValueError):
        return data_root is None
    return _fresh(out, name, src)
