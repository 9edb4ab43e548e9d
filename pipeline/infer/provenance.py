"""Where a result came from: models (run folder + weights hash), settings, code version.

:func:`provenance` gathers what an inference output must name (detector, classifier,
thresholds, tiling, device, package version, git commit when the package runs from a git
checkout; models as described by :mod:`leukoscan.pipeline.infer.sources`). The same dict goes into
the console header, ``summary.json``, each cells JSON, ``report.html`` and the footer of
each annotated image (:func:`provenance_lines`).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from leukoscan import __version__
from leukoscan.machine import git_commit
from leukoscan.pipeline.infer.sources import BUNDLED, GIVEN, NEWEST
from leukoscan.pipeline.report.summary import SlideRules
from leukoscan.schema import CALL_METHODS
from leukoscan.verdict import RunState, Verdict

if TYPE_CHECKING:
    from leukoscan.pipeline.infer.cascade import Pipeline


def _tiling(pipeline: Pipeline) -> dict[str, Any]:
    tile = pipeline.cfg.tile
    meta = getattr(pipeline.detector, "meta", None)
    out: dict[str, Any] = {
        "mode": "auto" if tile is None else ("off" if tile == 0 else "fixed"),
        "tile_px": tile or None,
    }
    if meta is not None and tile is None:
        base = meta.tile_size or meta.imgsz
        out.update(tile_px=base, auto_above_px=round(meta.auto_tile_factor * base))
    return out


def provenance(pipeline: Pipeline, *, flag_pct: float | None = None, rules: SlideRules | None = None) -> dict[str, Any]:
    """Everything a reader needs to know which models and settings made the calls.

    The settings are those in effect (``pipeline.cfg``, resolved once by ``load_pipeline``);
    ``overrides`` names each one the user set over a trained pipeline's own choice. ``rules``:
    how slides are called (default :class:`SlideRules`; ``flag_pct`` replaces its flag %).
    """
    rules = rules or SlideRules()
    flag_pct = rules.flag_pct if flag_pct is None else flag_pct
    cfg = pipeline.cfg
    models = pipeline.sources
    out: dict[str, Any] = {
        "leukoscan_version": __version__,
        "git_commit": git_commit(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "detector": models["detector"].to_dict() if "detector" in models else _in_memory(pipeline.detector),
        "classifier": (models["classifier"].to_dict() if "classifier" in models else _in_memory(pipeline.classifier)),
        "device": {
            "detector": str(getattr(pipeline.detector, "device", "cpu")),
            "classifier": str(getattr(pipeline.classifier, "device", "cpu")),
        },
        "thresholds": {
            "conf": cfg.conf,
            "iou": cfg.iou,
            "blast_threshold": cfg.blast_threshold,
            "max_det": cfg.max_det,
            "flag_pct": flag_pct,
            "min_cells": rules.min_cells,
            "flag_rule": rules.flag_rule,
            "uncertain_band": rules.uncertain_band,
        },
        "tiling": _tiling(pipeline),
        "crop_margin": cfg.margin,
        "leukocyte_classes": list(cfg.leukocyte_classes),
    }
    out["call_by"] = pipeline.call_by
    types = getattr(pipeline, "type_classifier", None)
    if types is not None:  # the type stage (the differential)
        out["type_classifier"] = (
            models["type_classifier"].to_dict() if "type_classifier" in models else _in_memory(types)
        )
        out["type_margin"] = cfg.type_margin
    fusion = pipeline.fusion
    if fusion is not None:  # how detector and classifier are combined (its thresholds: cfg, above)
        src = models.get("fusion")
        out["fusion"] = {
            "file": src.weights if src else None,
            "sha256": src.sha256 if src else None,
            "inputs": list(fusion.use),
            "reject": cfg.reject,
            "chosen_by": fusion.chosen_by,
        }
    out["overrides"] = {name: o.to_dict() for name, o in pipeline.overrides.items()}
    return out


def _in_memory(obj: Any) -> dict[str, Any] | None:
    if obj is None:
        return None
    return {
        "role": None,
        "name": getattr(obj, "name", type(obj).__name__),
        "run": None,
        "weights": "(in-memory object, no file)",
        "sha256": None,
        "chosen": GIVEN,
    }


def settings_key(prov: dict[str, Any]) -> dict[str, Any]:
    """The parts of ``prov`` that change the calls: two batches with equal keys can share a report."""

    def model(m: dict[str, Any] | None) -> Any:
        return None if m is None else m.get("sha256") or m.get("name")

    keep = {k: prov.get(k) for k in ("thresholds", "crop_margin", "leukocyte_classes", "fusion", "type_margin")}
    if prov.get("type_classifier"):
        keep["type_classifier"] = model(prov["type_classifier"])
    keep["tiling"] = {k: v for k, v in (prov.get("tiling") or {}).items()}
    return {"detector": model(prov.get("detector")), "classifier": model(prov.get("classifier")), **keep}


def _model_line(m: dict[str, Any] | None, role: str) -> str:
    if m is None:
        return f"{role}: none"
    sha = f", sha256 {m['sha256'][:12]}" if m.get("sha256") else ""
    implicit = {NEWEST: "  [picked implicitly: newest run]", BUNDLED: "  [bundled with LeukoScan: no trained run]"}.get(
        m.get("chosen"), ""
    )
    st = _state(m)
    state = f"; {st.text}" if st is not None else ""
    return f"{role}: {m.get('run') or m.get('weights')} ({m.get('name')}{sha}{state}){implicit}"


def _state(m: dict[str, Any] | None) -> RunState | None:
    st = (m or {}).get("run_state")
    if not st:
        return None
    return RunState(st["state"], st.get("epoch"), st.get("epochs"), Verdict.from_dict(st.get("verdict")))


def model_warnings(prov: dict[str, Any]) -> list[str]:
    """``"detector: MODEL NOT USABLE (finds 0% of white cells ...)"`` for every model of ``prov``
    that is unfinished, not usable, weak or not judged; empty when all are fine."""
    out = []
    for role in ("detector", "classifier"):
        st = _state(prov.get(role))
        if st is not None and st.warning:
            out.append(f"{role}: {st.warning}")
    return out


def _fusion_text(f: dict[str, Any], blast: float) -> str:
    sha = f" sha256 {f['sha256'][:12]}" if f.get("sha256") else ""
    return (
        f"; fusion of {'+'.join(f['inputs'])}{sha}: reject P(none) >= {f['reject']:g}, "
        f"blast share >= {blast:g} (chosen by cross-validation on training slides)"
    )


def _override_text(overrides: dict[str, Any]) -> str:
    """``; margin 0.3 set by --margin, pipeline chose 0.15`` for each setting the user set."""
    return "".join(
        f"; {name} {o['value']:g} set by {o['set_by']}, pipeline chose {o['pipeline_chose']:g}"
        for name, o in overrides.items()
    )


def provenance_lines(prov: dict[str, Any]) -> list[str]:
    """Short human-readable lines (console header, image footer, report)."""
    th, tl = prov["thresholds"], prov["tiling"]
    auto = (
        f"auto (tiles of {tl['tile_px']} px above {tl['auto_above_px']} px)"
        if tl.get("auto_above_px")
        else "auto (the detector's rule)"
    )
    tiling = {"auto": auto, "off": "off", "fixed": f"{tl.get('tile_px')} px tiles"}.get(tl["mode"], str(tl))
    dev = prov["device"]
    device = (
        dev["detector"]
        if dev["detector"] == dev["classifier"]
        else f"detector {dev['detector']}, classifier {dev['classifier']}"
    )
    settings = (
        f"conf {th['conf']:g}, iou {th['iou']:g}, blast threshold {th['blast_threshold']:g}"
        + (f", max det {th['max_det']}" if th.get("max_det") else "")
        + (f", flag >= {th['flag_pct']:g}%" if th.get("flag_pct") is not None else "")
        + (
            f" ({'95% lower bound' if th.get('flag_rule') == 'lower' else 'point estimate'}), "
            f"min {th['min_cells']} cells, uncertain band {th['uncertain_band']:g}"
            if th.get("min_cells") is not None
            else ""
        )
        + (_fusion_text(prov["fusion"], th["blast_threshold"]) if prov.get("fusion") else "")
        + _override_text(prov.get("overrides") or {})
    )
    code = f"leukoscan {prov['leukoscan_version']}" + (
        f", git {prov['git_commit']}" if prov.get("git_commit") else ", git commit unknown"
    )
    calls = f"blast calls: {CALL_METHODS.get(prov['call_by'], prov['call_by'])}; " if prov.get("call_by") else ""
    types = (
        [_model_line(prov["type_classifier"], "type classifier") + f", crop margin {prov['type_margin']:g}"]
        if prov.get("type_classifier")
        else []
    )
    return [
        _model_line(prov["detector"], "detector"),
        _model_line(prov["classifier"], "classifier"),
        *types,
        calls + f"{settings}; tiling {tiling}; crop margin {prov['crop_margin']:g}",
        f"device {device}; {code}; {prov['created']}",
    ]


__all__ = ["git_commit", "model_warnings", "provenance", "provenance_lines", "settings_key"]
