"""Where a result came from: models (run folder + weights hash), settings, code version.

:func:`model_source` describes one loaded model file; :func:`provenance` gathers what an
inference output must name (detector, classifier, thresholds, tiling, device, package
version, git commit when the package runs from a git checkout). The same dict goes into
the console header, ``summary.json``, each cells JSON, ``report.html`` and the footer of
each annotated image (:func:`provenance_lines`).
"""

from __future__ import annotations

import functools
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from leukoscan import __version__
from leukoscan.io import sha256_file
from leukoscan.runs import weights_file
from leukoscan.schema import CALL_METHODS

if TYPE_CHECKING:
    from leukoscan.app.pipeline import Pipeline

#: How a model was chosen: named by the user, or the newest run (implicit).
GIVEN, NEWEST = "given", "newest run (implicit)"
BUNDLED = "bundled with LeukoScan (no trained run)"


@dataclass(frozen=True)
class ModelSource:
    """One model as loaded: ``run`` folder (None for a bare weights file), file, hash."""

    role: str  # "detector" | "classifier"
    name: str  # registry name, e.g. "yolov8n", "handcrafted+svm"
    run: str | None
    weights: str
    sha256: str
    chosen: str = GIVEN

    @property
    def short(self) -> str:
        """``runs/detect/x (yolov8n, sha256 0123456789ab)`` for one-line displays."""
        return f"{self.run or self.weights} ({self.name}, sha256 {self.sha256[:12]})"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def model_source(role: str, path: str | Path, name: str, *, chosen: str = GIVEN) -> ModelSource:
    """Describe the model loaded from ``path`` (a run folder or a weights file)."""
    p = Path(path)
    wf = weights_file(p)
    run = p if p.is_dir() else _run_of(wf)
    return ModelSource(role, name, None if run is None else str(run), str(wf), sha256_file(wf), chosen)


def _run_of(weights: Path) -> Path | None:
    for parent in (weights.parent, weights.parent.parent):
        if (parent / "config.yaml").is_file():
            return parent
    return None


def announce_implicit(src: ModelSource, flag: str) -> None:
    """Say loudly (stderr) that a model was picked without being named."""
    bar = "!" * 78
    if src.chosen == BUNDLED:
        print(f"{bar}\n!! no {flag} given and no trained {src.role} run: using the BUNDLED {src.role}\n"
              f"!!   {src.short}\n!! (trained on open data; its model card: {Path(src.weights).name[:-3]}.card.json "
              f"beside it)\n{bar}", file=sys.stderr)
        return
    print(f"{bar}\n!! no {flag} given: using the NEWEST {src.role} run\n!!   {src.short}\n"
          f"!! name it with {flag} to be sure which model makes the calls\n{bar}", file=sys.stderr)


@functools.cache
def git_commit() -> str | None:
    """Commit of the checkout the package runs from (``+dirty`` with local changes), or None."""
    root = Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():
        return None
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                              text=True, timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head}+dirty" if dirty else head or None


def _tiling(pipeline: Pipeline) -> dict[str, Any]:
    tile = pipeline.cfg.tile
    meta = getattr(pipeline.detector, "meta", None)
    out: dict[str, Any] = {"mode": "auto" if tile is None else ("off" if tile == 0 else "fixed"),
                           "tile_px": tile or None}
    if meta is not None and tile is None:
        base = meta.tile_size or meta.imgsz
        out.update(tile_px=base, auto_above_px=round(meta.auto_tile_factor * base))
    return out


def provenance(pipeline: Pipeline, *, flag_pct: float | None = None) -> dict[str, Any]:
    """Everything a reader needs to know which models and settings made the calls."""
    cfg = pipeline.cfg
    models = getattr(pipeline, "sources", {}) or {}
    out: dict[str, Any] = {
        "leukoscan_version": __version__,
        "git_commit": git_commit(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "detector": models["detector"].to_dict() if "detector" in models else _in_memory(pipeline.detector),
        "classifier": (models["classifier"].to_dict() if "classifier" in models
                       else _in_memory(pipeline.classifier)),
        "device": {"detector": str(getattr(pipeline.detector, "device", "cpu")),
                   "classifier": str(getattr(pipeline.classifier, "device", "cpu"))},
        "thresholds": {"conf": cfg.conf, "iou": cfg.iou,
                       "blast_threshold": getattr(pipeline, "blast_threshold", cfg.blast_threshold),
                       "max_det": getattr(cfg, "max_det", None), "flag_pct": flag_pct},
        "tiling": _tiling(pipeline),
        "crop_margin": cfg.margin,
        "leukocyte_classes": list(cfg.leukocyte_classes),
    }
    out["call_by"] = getattr(pipeline, "call_by", "")
    fusion = getattr(pipeline, "fusion", None)
    if fusion is not None:  # how detector and classifier are combined, and its own operating point
        src = models.get("fusion")
        out["fusion"] = {"file": src.weights if src else None, "sha256": src.sha256 if src else None,
                         "inputs": list(fusion.use), "conf": fusion.conf, "reject": fusion.reject,
                         "blast": fusion.blast, "chosen_by": fusion.chosen_by}
        out["thresholds"]["conf"] = fusion.conf  # the detector runs at the fusion's score floor
    return out


def _in_memory(obj: Any) -> dict[str, Any] | None:
    if obj is None:
        return None
    return {"role": None, "name": getattr(obj, "name", type(obj).__name__), "run": None,
            "weights": "(in-memory object, no file)", "sha256": None, "chosen": GIVEN}


def settings_key(prov: dict[str, Any]) -> dict[str, Any]:
    """The parts of ``prov`` that change the calls: two batches with equal keys can share a report."""
    def model(m: dict[str, Any] | None) -> Any:
        return None if m is None else m.get("sha256") or m.get("name")

    keep = {k: prov.get(k) for k in ("thresholds", "crop_margin", "leukocyte_classes", "fusion")}
    keep["tiling"] = {k: v for k, v in (prov.get("tiling") or {}).items()}
    return {"detector": model(prov.get("detector")), "classifier": model(prov.get("classifier")), **keep}


def _model_line(m: dict[str, Any] | None, role: str) -> str:
    if m is None:
        return f"{role}: none"
    sha = f", sha256 {m['sha256'][:12]}" if m.get("sha256") else ""
    implicit = {NEWEST: "  [picked implicitly: newest run]",
                BUNDLED: "  [bundled with LeukoScan: no trained run]"}.get(m.get("chosen"), "")
    return f"{role}: {m.get('run') or m.get('weights')} ({m.get('name')}{sha}){implicit}"


def _fusion_text(f: dict[str, Any]) -> str:
    sha = f" sha256 {f['sha256'][:12]}" if f.get("sha256") else ""
    return (f"; fusion of {'+'.join(f['inputs'])}{sha}: reject P(none) >= {f['reject']:g}, "
            f"blast share >= {f['blast']:g} (chosen by cross-validation on training slides)")


def provenance_lines(prov: dict[str, Any]) -> list[str]:
    """Short human-readable lines (console header, image footer, report)."""
    th, tl = prov["thresholds"], prov["tiling"]
    auto = (f"auto (tiles of {tl['tile_px']} px above {tl['auto_above_px']} px)" if tl.get("auto_above_px")
            else "auto (the detector's rule)")
    tiling = {"auto": auto,
              "off": "off", "fixed": f"{tl.get('tile_px')} px tiles"}.get(tl["mode"], str(tl))
    dev = prov["device"]
    device = dev["detector"] if dev["detector"] == dev["classifier"] else \
        f"detector {dev['detector']}, classifier {dev['classifier']}"
    settings = (f"conf {th['conf']:g}, iou {th['iou']:g}, blast threshold {th['blast_threshold']:g}"
                + (f", max det {th['max_det']}" if th.get("max_det") else "")
                + (f", flag >= {th['flag_pct']:g}%" if th.get("flag_pct") is not None else "")
                + (_fusion_text(prov["fusion"]) if prov.get("fusion") else ""))
    code = f"leukoscan {prov['leukoscan_version']}" + (f", git {prov['git_commit']}" if prov.get("git_commit")
                                                        else ", git commit unknown")
    calls = f"blast calls: {CALL_METHODS.get(prov['call_by'], prov['call_by'])}; " if prov.get("call_by") else ""
    return [_model_line(prov["detector"], "detector"), _model_line(prov["classifier"], "classifier"),
            calls +
            f"{settings}; tiling {tiling}; crop margin {prov['crop_margin']:g}",
            f"device {device}; {code}; {prov['created']}"]


__all__ = ["BUNDLED", "GIVEN", "NEWEST", "ModelSource", "announce_implicit", "git_commit", "model_source", "provenance",
           "provenance_lines", "settings_key"]
