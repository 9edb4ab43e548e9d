"""One command for the whole ALL pipeline: detector, cells, out-of-fold classifier scores,
fusion, operating points. Resumable: every finished stage is recorded in ``state.json`` and skipped.

Stages (all on the *training* split of a prepared ``all_idb1`` folder; the validation split
is never read here):

1. ``detector``: the full detector (``detector_config``), or ``detector=RUN`` to reuse one.
2. ``folds`` (only with ``cells_detector="oof"``): ``folds`` detectors, fold f trained without
   the slides of fold f (slide groups whole, stratified by label x camera), or
   ``fold_detectors=[RUN, ...]`` to reuse them. A slide's out-of-fold detector is read from
   each run's own training list, not assumed.
3. ``cells``: every training slide through the full detector (``cells_detector="full"``, the
   default, measured better) or its out-of-fold detector, at ``cell_conf``; boxes merged per
   cell and labelled by centroid matching; crops per candidate ``margins``.
4. ``oof``: per margin, out-of-fold classifier ``P(blast)`` (``cv_folds`` slide-group folds),
   once per fold seed (``cv_seeds`` fold assignments, seeds ``seed, seed + 1, ...``).
5. ``select``: per margin and per fusion input set (detector + classifier, detector only,
   classifier only) out-of-fold fused probabilities and the operating point chosen on the
   pooled out-of-fold results of all fold seeds
   (:func:`leukoscan.pipeline.train.seam_fit.choose_over_seeds`); the best is kept, with its spread
   over fold seeds (each seed's own choice, the pooled choice's scores per seed).
6. ``final``: the classifier refitted on all training cells at the chosen margin, the fusion
   refitted on the out-of-fold features of every fold seed; ``pipeline.json`` names
   detector, classifier, fusion, margin and thresholds, how they were chosen and the spread.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from tqdm import tqdm

from leukoscan import classify, detect
from leukoscan.classify.crops import CROP_MARGIN
from leukoscan.classify.metrics import binary_report
from leukoscan.classify.model import FitCfg
from leukoscan.classify.repeats import fold_seed_list, summarize
from leukoscan.config import load_config, save_config
from leukoscan.data import prepare, resolve
from leukoscan.data.fit_splits import HELD_OUT, check_fit_splits
from leukoscan.detect.defaults import NMS_IOU
from leukoscan.detect.train import DetectTrainConfig, train
from leukoscan.errors import ConfigError, DataError
from leukoscan.io import atomic_write_json, read_image
from leukoscan.paths import CONFIGS_DIR
from leukoscan.pipeline.infer.cascade import Pipeline
from leukoscan.pipeline.infer.seam import FEATURES, Fusion, feature_matrix
from leukoscan.pipeline.infer.settings import PipelineConfig
from leukoscan.pipeline.train.cells import Slide, read_index, read_slides, write_cells
from leukoscan.pipeline.train.seam_fit import (
    SlideTruth,
    choose_over_seeds,
    oof_classifier,
    oof_fusion,
    slide_folds,
)
from leukoscan.verdict import classifier_verdict

FUSION_INPUTS = {
    "detector+classifier": FEATURES,
    "detector": ("det_blast", "det_leukocyte"),
    "classifier": ("clf_blast",),
}


@dataclass(frozen=True)
class AllPipelineConfig:
    data: str = "all_idb1"
    data_root: str | None = None
    split: str = "train"
    detector_config: str = "detect_allidb1_yolov8n.yaml"  # a path, or a name in the packaged configs/
    detector: str | None = None
    fold_detectors: list[str] = field(default_factory=list)
    folds: int = 2
    # "full": cells cut by the full detector, which trained on every training slide (in-fold;
    # the default, chosen by measurement: benchmarks/README.md "The slide answer");
    # "oof": a slide's cells come from a fold detector that never trained on it
    cells_detector: str = "full"
    cv_folds: int = 5
    cv_seeds: int = 5  # fold assignments of the CV; operating points chosen on their pooled results
    classifier: str = "handcrafted+svm"
    classifier_imgsz: int | None = None  # None: the classifier's own default input size
    # the classifier's starting weights: False = random init; "pbc" = the bundled blood backbone
    # (leukoscan/weights); a path = a backbone file (leukoscan pretrain-backbone). Ignored by
    # classifiers without a network (handcrafted+svm).
    classifier_pretrained: bool | str = False
    classifier_epochs: int = 30  # epochs per fit of a network classifier (ignored by scikit-learn models)
    # the detector's starting weights when this command trains it: None = detector_config's own
    # ``pretrained``; "blood" = the bundled blood_fields detector; False = scratch; a .pt path
    detector_pretrained: bool | str | None = None
    margins: list[float] = field(default_factory=lambda: [CROP_MARGIN, 0.3])
    crop_size: int = 256
    cell_conf: float = 0.05
    iou: float = NMS_IOU
    seed: int = 0


class State:
    """``state.json`` in the run folder: finished stages and their outputs."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / "state.json"
        self.data: dict[str, Any] = json.loads(self.path.read_text()) if self.path.is_file() else {}

    def done(self, stage: str) -> bool:
        return stage in self.data

    def __getitem__(self, stage: str) -> Any:
        return self.data[stage]

    def set(self, stage: str, value: Any) -> None:
        self.data[stage] = value
        atomic_write_json(self.path, self.data)


def _train_detector(cfg: AllPipelineConfig, run_dir: Path, name: str, data: str) -> str:
    over = {"data": data, "name": name, "project": str(run_dir / "detectors"), "seed": cfg.seed}
    if cfg.detector_pretrained is not None:
        over["pretrained"] = cfg.detector_pretrained
    if cfg.data_root:
        over["data_root"] = cfg.data_root
    path = Path(cfg.detector_config)
    dcfg = load_config(DetectTrainConfig, path if path.is_file() else CONFIGS_DIR / path.name, over)
    prev = run_dir / "detectors" / name
    return str(train(dcfg, resume=prev if (prev / "weights" / "last.pt").is_file() else False))


def _training_slides(run: str | Path) -> set[str]:
    """File names a detector run (folder or weights file) trained on (its data folder's
    ``splits/<train_split>.txt``)."""
    run = Path(run)
    if run.is_file():  # a weights file: <run>/weights/<name>.pt
        run = run.parent.parent
    info = json.loads((run / "run_info.json").read_text())
    split = yaml.safe_load((run / "config.yaml").read_text()).get("train_split", "train")
    return set((Path(info["data_dir"]) / "splits" / f"{split}.txt").read_text().split())


def _fold_stage(cfg: AllPipelineConfig, run_dir: Path, data_dir: Path, slides: list[Slide]) -> list[str]:
    if cfg.fold_detectors:
        return [str(r) for r in cfg.fold_detectors]
    fold = slide_folds(
        [s.name for s in slides],
        [s.group for s in slides],
        [f"{s.label}_{s.camera}" for s in slides],
        cfg.folds,
        seed=cfg.seed,
    )
    runs = []
    for f in range(cfg.folds):
        split_csv = run_dir / "folds" / f"fold{f}.csv"
        split_csv.parent.mkdir(parents=True, exist_ok=True)
        split_csv.write_text(
            "image,split\n" + "".join(f"{Path(s).stem},{'val' if k == f else 'train'}\n" for s, k in fold.items())
        )
        fdata = run_dir / "folds" / f"data{f}"
        if not (fdata / "splits").is_dir():
            prepare("all_idb1", data_root=cfg.data_root, out=fdata, overwrite=True, split_file=split_csv)
        runs.append(_train_detector(cfg, run_dir, f"fold{f}", str(fdata)))
    return runs


def _oof_detectors(fold_runs: list[str], slides: list[Slide]) -> dict[str, str]:
    """``{slide: fold run that did not train on it}``; every slide must have one."""
    seen = {r: _training_slides(r) for r in fold_runs}
    out = {}
    for s in slides:
        free = [r for r in fold_runs if s.name not in seen[r]]
        if not free:
            raise DataError(f"{s.name}: every fold detector trained on it; no out-of-fold detector")
        out[s.name] = free[0]
    return out


def _cells_detectors(cfg: AllPipelineConfig, state: State, slides: list[Slide]) -> dict[str, str]:
    if cfg.cells_detector == "full":
        return {s.name: state["detector"] for s in slides}
    return _oof_detectors(state["folds"], slides)


def load_detector(run: str | Path) -> Any:
    """The detector of a run folder (a seam for tests)."""
    return detect.load(run)


def cut_cells(
    slides: list[Slide], which: dict[str, str], *, conf: float, iou: float
) -> list[tuple[Slide, np.ndarray, Any, str]]:
    """Every slide through its detector (``which[slide] = run``) with the pipeline's own
    :meth:`~leukoscan.pipeline.infer.cascade.Pipeline.detect` (leukocyte classes, one box per cell)
    -> ``(slide, image, cells, run name)`` for :func:`leukoscan.pipeline.train.cells.write_cells`."""
    pipes: dict[str, Pipeline] = {}
    found = []
    for s in tqdm(slides, desc="cells", unit="slide"):
        run = which[s.name]
        if run not in pipes:
            pipes[run] = Pipeline(load_detector(run), None, PipelineConfig(conf=conf, iou=iou))
        image = read_image(s.path)
        found.append((s, image, pipes[run].detect(image), Path(run).name))
    return found


def _cells_stage(cfg: AllPipelineConfig, run_dir: Path, slides: list[Slide], which: dict[str, str]) -> dict:
    found = cut_cells(slides, which, conf=cfg.cell_conf, iou=cfg.iou)
    out = {}
    for m in cfg.margins:
        folder = run_dir / f"cells_m{m:g}"
        write_cells(found, folder, margin=m, size=cfg.crop_size)
        out[f"{m:g}"] = str(folder)
    return out


def build_cells_dataset(
    data_dir: str | Path,
    split: str,
    detectors: list[str],
    out: str | Path,
    *,
    conf: float,
    iou: float,
    margin: float,
    size: int,
    log=print,
) -> Path:
    """The cells dataset of one split (``leukoscan prepare-data all_idb1_cells``).

    One detector run: it cuts every slide (reported as in-fold for slides it trained on).
    Several: each slide is cut by a run whose training list does not hold it (out-of-fold).
    """
    slides = read_slides(data_dir, split)
    if len(detectors) == 1:
        seen = _training_slides(detectors[0])
        n_in = sum(s.name in seen for s in slides)
        if n_in:
            log(
                f"note: {detectors[0]} trained on {n_in} of these {len(slides)} slides: their cells are "
                f"in-fold (give one detector per fold for out-of-fold cells)"
            )
        which = {s.name: detectors[0] for s in slides}
    else:
        which = _oof_detectors(detectors, slides)
    return write_cells(cut_cells(slides, which, conf=conf, iou=iou), out, margin=margin, size=size)


def _load_cells(folder: str) -> tuple[list[np.ndarray], list[dict[str, str]]]:
    rows = read_index(folder)
    return [read_image(Path(folder) / r["file"]) for r in rows], rows


def _factory(cfg: AllPipelineConfig):
    def make() -> Any:
        kw = {"imgsz": cfg.classifier_imgsz} if cfg.classifier_imgsz else {}
        return classify.build(
            cfg.classifier,
            num_classes=2,
            pretrained=cfg.classifier_pretrained,
            class_names=("blast", "normal"),
            **kw,
        )

    return make


def _fit_cfg(cfg: AllPipelineConfig) -> FitCfg:
    return FitCfg(epochs=cfg.classifier_epochs, seed=cfg.seed)


def _oof_stage(cfg: AllPipelineConfig, run_dir: Path, cells: dict[str, str], slides: list[Slide]) -> dict:
    seeds = fold_seed_list(cfg.seed, cfg.cv_seeds)
    folds = [
        slide_folds(
            [s.name for s in slides],
            [s.group for s in slides],
            [f"{s.label}_{s.camera}" for s in slides],
            cfg.cv_folds,
            seed=seed,
        )
        for seed in seeds
    ]
    out, shared = {}, {}  # one feature cache (content-keyed) for every margin and fold seed
    for m, folder in cells.items():
        images, rows = _load_cells(folder)
        labels = np.array([r["label"] for r in rows], dtype=object)
        fs = [np.array([fold[r["slide"]] for r in rows]) for fold in folds]
        bar = tqdm(fs, desc=f"out-of-fold {cfg.classifier}, margin {m} ({cfg.cv_folds} folds per seed)", unit="seed")
        ps = [oof_classifier(images, labels, f, _factory(cfg), fit_cfg=_fit_cfg(cfg), shared=shared) for f in bar]
        path = run_dir / f"oof_m{m}.json"
        atomic_write_json(
            path, {"fold_seeds": seeds, "fold": [f.tolist() for f in fs], "clf_blast": [p.tolist() for p in ps]}
        )
        out[m] = str(path)
    return out


def _read_oof(path: str) -> tuple[list[int], list[np.ndarray], list[np.ndarray]]:
    """(fold seeds, fold per seed, clf_blast per seed); a one-seed file of older runs reads as one seed."""
    o = json.loads(Path(path).read_text())
    if "fold_seeds" not in o:
        return [0], [np.asarray(o["fold"])], [np.asarray(o["clf_blast"])]
    return o["fold_seeds"], [np.asarray(f) for f in o["fold"]], [np.asarray(p) for p in o["clf_blast"]]


def _select_stage(cfg: AllPipelineConfig, cells: dict[str, str], oof: dict[str, str], slides: list[Slide]) -> dict:
    truth = {s.name: SlideTruth(len(s.blasts), len(s.leukocytes)) for s in slides}
    trials, inputs = [], {}
    for m, folder in cells.items():
        rows = read_index(folder)
        seeds, folds, clf = _read_oof(oof[m])
        y = np.array([r["label"] for r in rows], dtype=object)
        slide = np.array([r["slide"] for r in rows], dtype=object)
        det_conf = np.array([max(float(r["det_blast"]), float(r["det_leukocyte"])) for r in rows])
        for name, use in FUSION_INPUTS.items():
            ps = [oof_fusion(_features(rows, c), y, f, use=use) for f, c in zip(folds, clf, strict=True)]
            best = choose_over_seeds(ps, det_conf, y, slide, truth, spread=False)
            trials.append({"margin": float(m), "inputs": name, "fold_seeds": seeds, **best})
            inputs[(float(m), name)] = (ps, det_conf, y, slide)
    trials.sort(key=lambda t: t["objective"])
    win = trials[0]
    ps, det_conf, y, slide = inputs[(win["margin"], win["inputs"])]
    win = {**win, **choose_over_seeds(ps, det_conf, y, slide, truth, spread=True)}  # the spread of the winner
    return {"best": win, "trials": trials}


def _features(rows: list[dict[str, str]], clf_blast: np.ndarray) -> np.ndarray:
    return feature_matrix(
        np.array([float(r["det_blast"]) for r in rows]), np.array([float(r["det_leukocyte"]) for r in rows]), clf_blast
    )


def _classifier_record(
    clf_dir: Path, labels: np.ndarray, clf_blast: list[np.ndarray], seeds: list[int], cfg: AllPipelineConfig
) -> None:
    """``classifier/metrics.json``: the pipeline classifier's own record, so provenance and
    ``infer`` read its verdict (it said "no training record"): its out-of-fold blast calls on
    the blast / normal cells, per fold seed (``binary_report``), with the spread over the seeds."""
    keep = labels != "none"
    y = (labels[keep] == "blast").astype(int)
    per_seed = [
        binary_report(y, np.stack([1 - p[keep], p[keep]], axis=1), ("normal", "blast"), n_boot=0).to_dict()
        for p in clf_blast
    ]
    oof = summarize(per_seed, seeds)
    ba = oof["balanced_accuracy"]
    span = f", range {ba['min']:.2f}-{ba['max']:.2f}" if ba["mean"] is not None else ""
    what = f"out-of-fold cells, mean of {len(seeds)} fold seeds{span}"
    atomic_write_json(
        clf_dir / "metrics.json",
        {
            "fitted_on": f"the detector's cells of split {cfg.split} (blast / normal)",
            "class_names": ["normal", "blast"],
            "oof": oof,
            "verdict": classifier_verdict(ba["mean"], what=what).to_dict(),
        },
    )


def _final_stage(cfg: AllPipelineConfig, run_dir: Path, state: State) -> dict:
    best = state["select"]["best"]
    m = f"{best['margin']:g}"
    images, rows = _load_cells(state["cells"][m])
    labels = np.array([r["label"] for r in rows], dtype=object)
    keep = labels != "none"
    clf = _factory(cfg)()
    clf.fit(
        [im for im, k in zip(images, keep, strict=True) if k],
        (labels[keep] != "blast").astype(int),
        _fit_cfg(cfg),
    )
    clf_dir = run_dir / "classifier"
    clf.save(clf_dir)
    seeds, _, clf_blast = _read_oof(state["oof"][m])
    _classifier_record(clf_dir, labels, clf_blast, seeds, cfg)
    how = (
        f"grouped {cfg.cv_folds}-fold CV over {len(set(r['slide'] for r in rows))} training slides "
        f"(split {cfg.split}), repeated over {len(seeds)} fold seeds {seeds}, operating point chosen on their "
        f"pooled out-of-fold results (out-of-fold classifier scores); objective blast % MAE / 100 "
        f"+ (1 - cell blast F1); inputs {best['inputs']}, margin {best['margin']}"
    )
    x = np.concatenate([_features(rows, c) for c in clf_blast])
    fusion = Fusion(use=FUSION_INPUTS[best["inputs"]], chosen_by=how)
    fusion.fit(x, np.tile(labels, len(clf_blast)))
    fusion.save(run_dir / "fusion.json")
    # the one stored copy of the pipeline's chosen settings (leukoscan.pipeline.infer.settings.CHOSEN)
    # paths relative to this folder (read_pipeline_spec resolves them there), so a pipeline works
    # from any working folder and moves with its runs tree
    rel = lambda p: os.path.relpath(Path(p).absolute(), run_dir.absolute())  # noqa: E731
    spec = {
        "detector": rel(state["detector"]),
        "classifier": rel(clf_dir),
        "fusion": rel(run_dir / "fusion.json"),
        "margin": best["margin"],
        "conf": best["conf"],
        "reject": best["reject"],
        "blast_threshold": best["blast"],
        "inputs": best["inputs"],
        "chosen_by": how,
        "oof_scores": {k: best[k] for k in ("recall", "precision", "f1", "blast_pct_mae")},
        "fitted_on": f"split {cfg.split}",
        "fold_seeds": seeds,
        "spread": best.get("spread", {}),
    }
    atomic_write_json(run_dir / "pipeline.json", spec)
    return spec


def train_all_pipeline(cfg: AllPipelineConfig, run_dir: str | Path, *, log=print) -> Path:
    """Run (or resume) every stage in ``run_dir``; returns ``run_dir`` (holds ``pipeline.json``)."""
    if cfg.cells_detector not in ("oof", "full"):
        raise ConfigError(f"cells_detector must be 'oof' or 'full', got {cfg.cells_detector!r}")
    check_fit_splits((cfg.split,), "split (the slides the pipeline is fitted on)")
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    save_config(cfg, run_dir / "config.yaml")
    state = State(run_dir)
    data_dir = resolve(cfg.data, data_root=cfg.data_root)
    slides = read_slides(data_dir, cfg.split)
    held = data_dir / "splits" / f"{HELD_OUT}.txt"
    n_held = len(held.read_text().split()) if held.is_file() else 0
    log(
        f"fitted on: split {cfg.split} ({len(slides)} slides); every other split is not read"
        + (f"; the data hold a {HELD_OUT!r} split ({n_held} slides): left alone" if n_held else "")
    )
    stages = [
        ("detector", lambda: cfg.detector or _train_detector(cfg, run_dir, "full", cfg.data)),
        ("folds", lambda: _fold_stage(cfg, run_dir, data_dir, slides) if cfg.cells_detector == "oof" else []),
        ("cells", lambda: _cells_stage(cfg, run_dir, slides, _cells_detectors(cfg, state, slides))),
        ("oof", lambda: _oof_stage(cfg, run_dir, state["cells"], slides)),
        ("select", lambda: _select_stage(cfg, state["cells"], state["oof"], slides)),
        ("final", lambda: _final_stage(cfg, run_dir, state)),
    ]
    for name, fn in stages:
        if state.done(name):
            log(f"[{name}] done earlier, skipped")
            continue
        t0 = time.time()
        log(f"[{name}] ...")
        state.set(name, fn())
        log(f"[{name}] finished in {time.time() - t0:.0f} s")
    return run_dir
