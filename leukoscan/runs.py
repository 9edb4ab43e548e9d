"""One run folder layout for every tool that writes or reads one.

A run folder ``<base>/<name>/`` (``runs/detect/<name>``, ``runs/classify/<name>``) holds

- ``config.yaml`` (the resolved config), ``metrics.json``, ``run_info.json`` (detector);
- a detector's weights: ``weights/best.pt`` (else ``weights/last.pt``);
- a classifier's weights: ``model.pt`` (torch) or ``model.skops`` (scikit-learn; older
  runs: ``model.pkl``, a pickle loaded only with ``--trust-model``);
- the ONNX twin of either: the weights file with suffix ``.onnx`` (+ ``.json`` sidecar).

Names are never reused: :meth:`RunDir.new` appends ``_2``, ``_3``... The newest run of a
base folder is the one whose weights were written last (:meth:`RunDir.newest`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from leukoscan.errors import MissingModelError
from leukoscan.io import atomic_write_json, sha256_file

CONFIG, METRICS, RUN_INFO = "config.yaml", "metrics.json", "run_info.json"
DETECTOR_WEIGHTS = ("weights/best.pt", "weights/last.pt", "best.pt")
CLASSIFIER_WEIGHTS = ("model.pt", "model.skops", "model.pkl")
LAST = "weights/last.pt"


@dataclass(frozen=True)
class RunDir:
    """A run folder; ``path`` need not exist yet."""

    path: Path

    def __init__(self, path: str | Path) -> None:
        object.__setattr__(self, "path", Path(path))

    def __fspath__(self) -> str:
        return str(self.path)

    def __truediv__(self, other: str) -> Path:
        return self.path / other

    @property
    def name(self) -> str:
        return self.path.name

    # ---- creating and finding ---------------------------------------------------------
    @classmethod
    def new(cls, base: str | Path, name: str | None, default: str = "exp", exist_ok: bool = False) -> RunDir:
        """``base/name``; when it exists and ``exist_ok`` is False, ``name_2``, ``name_3``...

        Digits already in the name are kept (``bench_e12`` -> ``bench_e12_2``).
        """
        base = Path(base)
        name = name or default
        if exist_ok or not (base / name).exists():
            return cls(base / name)
        i = 2
        while (base / f"{name}_{i}").exists():
            i += 1
        return cls(base / f"{name}_{i}")

    @classmethod
    def newest(cls, base: str | Path, marker: str | tuple[str, ...] | None = None) -> RunDir | None:
        """The run under ``base`` whose weights (or ``marker`` file) were written last."""
        runs = cls.by_age(base, marker)
        return runs[0] if runs else None

    @classmethod
    def by_age(cls, base: str | Path, marker: str | tuple[str, ...] | None = None) -> list[RunDir]:
        """Runs under ``base`` with weights (or ``marker``), newest weights first."""
        base = Path(base)
        if not base.is_dir():
            return []
        markers = (marker,) if isinstance(marker, str) else marker or DETECTOR_WEIGHTS + CLASSIFIER_WEIGHTS
        stamps = {}
        for p in base.iterdir():
            files = [p / m for m in markers if (p / m).is_file()]
            if files:
                stamps[p] = max(f.stat().st_mtime for f in files)
        return [cls(p) for p in sorted(stamps, key=stamps.__getitem__, reverse=True)]

    # ---- files ----------------------------------------------------------------------------
    @property
    def config(self) -> Path:
        return self.path / CONFIG

    @property
    def metrics(self) -> Path:
        return self.path / METRICS

    @property
    def run_info(self) -> Path:
        return self.path / RUN_INFO

    @property
    def weights_dir(self) -> Path:
        return self.path / "weights"

    @property
    def last(self) -> Path:
        return self.path / LAST

    @property
    def best(self) -> Path:
        return self.path / DETECTOR_WEIGHTS[0]

    def find_weights(self) -> Path | None:
        """The weights file of this run (detector best/last, else classifier model.pt/.pkl)."""
        for rel in DETECTOR_WEIGHTS + CLASSIFIER_WEIGHTS:
            if (self.path / rel).is_file():
                return self.path / rel
        return None

    def weights(self) -> Path:
        """:meth:`find_weights`, or :class:`MissingModelError` naming what was looked for."""
        found = self.find_weights()
        if found is None:
            looked = ", ".join(DETECTOR_WEIGHTS[:2] + CLASSIFIER_WEIGHTS)
            raise MissingModelError(f"{self.path}: a run folder without weights (looked for {looked})")
        return found

    def onnx(self) -> Path:
        """Where the ONNX twin of this run's weights lives (next to them, suffix ``.onnx``)."""
        found = self.find_weights()
        return (found or self.path / CLASSIFIER_WEIGHTS[0]).with_suffix(".onnx")

    def read_json(self, name: str = METRICS) -> dict[str, Any]:
        return json.loads((self.path / name).read_text())

    def write_json(self, name: str, obj: Any) -> Path:
        atomic_write_json(self.path / name, obj)
        return self.path / name


def weights_file(path_or_run: str | Path) -> Path:
    """A weights file as given, or the weights of a run folder; MissingModelError otherwise."""
    p = Path(path_or_run)
    if p.is_dir():
        return RunDir(p).weights()
    if not p.is_file():
        raise MissingModelError(f"{p}: no such run folder or weights file")
    return p


def twin_source(weights: str | Path | None) -> dict[str, str]:
    """What an ONNX sidecar records of the weights it was exported from (name, SHA-256)."""
    if weights is None or not Path(weights).is_file():
        return {}
    return {"source_weights": Path(weights).name, "source_sha256": sha256_file(weights)}


def check_twin_fresh(twin: Path, weights: Path) -> None:
    """Refuse an ONNX twin exported from other (older) weights than ``weights``.

    Its sidecar names the source's SHA-256 (:func:`twin_source`); a sidecar written before
    that (no hash) counts as stale when the weights file is newer than the ONNX file."""
    if not weights.is_file() or weights.suffix == ".onnx":
        return
    try:
        side = json.loads(twin.with_suffix(".json").read_text())
    except (OSError, ValueError):
        return  # the loader reports a missing or unreadable sidecar
    recorded = side.get("source_sha256") if isinstance(side, dict) else None
    stale = recorded != sha256_file(weights) if recorded else weights.stat().st_mtime > twin.stat().st_mtime
    if stale:
        raise MissingModelError(
            f"{twin}: stale ONNX export, made from other weights than {weights} (re-export: leukoscan export)"
        )


def onnx_twin(path_or_run: str | Path) -> Path:
    """The ONNX twin of a weights file or run folder (an ``.onnx`` path is returned as is)."""
    p = Path(path_or_run)
    if p.suffix == ".onnx":
        return p
    return p.with_suffix(".onnx") if p.is_file() else RunDir(p).onnx()
