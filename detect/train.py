"""Detector training entry point: config dataclasses, run folder, resume, final evaluation.

A run folder ``<project>/<name>/`` (default ``runs/detect/<model>``, never overwritten:
``name2``, ``name3``...) holds ``config.yaml`` (resolved config), ``run_info.json``
(dataset folder, device, threads, pretrained state), ``weights/{best,last}.pt``,
``metrics.csv`` (one row per epoch) and, when complete, ``metrics.json`` (final COCO
metrics of ``best`` on the validation split, measured by :mod:`leukoscan.detect.evaluate`).

Resume: ``train(..., resume=run_dir_or_True)`` continues from ``weights/last.pt``
(written at the end of every epoch) with the config saved in the run folder.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from leukoscan import ddp
from leukoscan.config import check_max, check_min, load_config, save_config, to_dict
from leukoscan.data import read_names, resolve
from leukoscan.data.checks import check_detection_splits
from leukoscan.data.fit_splits import HELD_OUT, check_fit_splits
from leukoscan.detect.augment import AugmentConfig
from leukoscan.detect.base import DETECT_CONF, EpochCallback, FitArgs
from leukoscan.detect.evaluate import (
    coco_evaluate,
    coco_results,
    predict_split,
    split_centroid_hits,
)
from leukoscan.detect.pretrained import resolve_auto
from leukoscan.detect.records import write_records
from leukoscan.detect.registry import DETECTORS, build, load
from leukoscan.detect.runlog import WandbLog, epoch_logger
from leukoscan.detect.sanity import training_verdict
from leukoscan.detect.tiling import TilePlan, plan_tiles, tile_dataset
from leukoscan.device import (
    check_device,
    cpu_threads,
    first_device,
    resolve_device,
    set_cpu_threads,
)
from leukoscan.errors import ConfigError, MissingModelError
from leukoscan.runlog import RunLog
from leukoscan.runs import LAST, RunDir
from leukoscan.verdict import COMPLETE, INTERRUPTED, LEUKOCYTE_CLASSES, TRAINING, write_status

#: Largest training image size (pixels); 4096 px is 41x the pixels of 640 px (imgsz 100000 grew until killed).
MAX_IMGSZ = 4096


@dataclass(frozen=True)
class TileConfig:
    enabled: str = "auto"  # "auto" (tile when images exceed auto_factor * tile size), "on", "off"
    size: int = 0  # tile side in pixels (0 = from the cells' size: max(imgsz, 3 x overlap))
    overlap: int = 0  # pixels shared by neighbouring tiles (0 = 1.25 x the 99th-percentile cell side)
    min_visibility: float = 0.5  # border rule, see leukoscan.detect.tiling
    auto_factor: float = 2.0
    max_tiles: int = 20000  # a plan making more tiles is refused with the numbers

    def __post_init__(self) -> None:
        check_min(self, "tile.", size=0, overlap=0, max_tiles=1)


@dataclass(frozen=True)
class WandbConfig:
    enabled: bool = False
    project: str = "leukoscan"
    entity: str | None = None
    n_samples: int = 6  # validation images with predictions logged at the end


@dataclass(frozen=True)
class DetectTrainConfig:
    model: str = "yolov8n"
    data: str = "bccd"  # dataset name or folder (leukoscan.data.resolve)
    data_root: str | None = None
    train_split: str = "train"
    val_split: str = "val"
    epochs: int = 30
    imgsz: int = 416
    batch: int = 16
    device: str = "auto"
    # True: COCO (download); False: scratch; "blood" or a .pt: LeukoScan weights; "auto": the bundled
    # blood detector of the model when there is one, else True (detect.pretrained.resolve_auto)
    pretrained: bool | str = True
    threads: int = 0  # torch CPU threads; 0 = leukoscan.device.cpu_threads() (env LEUKOSCAN_THREADS)
    workers: int = 0
    seed: int = 0
    lr: float | None = None  # None = backend default
    patience: int = 100
    val: bool = True  # validate every epoch; False = only after the last (best = last), saves time
    rois_per_image: int = 128  # Faster R-CNN only: RoIs sampled per image in training
    name: str | None = None
    project: str = "runs/detect"
    eval_conf: float = 0.001
    amp: bool = True  # float16 mixed precision on CUDA (both backends); no effect on CPU
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    tile: TileConfig = field(default_factory=TileConfig)
    wandb: WandbConfig = field(default_factory=WandbConfig)

    def __post_init__(self) -> None:
        check_min(self, epochs=1, imgsz=32, batch=1, patience=0, workers=0, threads=0)
        check_fit_splits((self.train_split,), "train_split")
        check_fit_splits((self.val_split,), "val_split (it picks best.pt, so it is part of the fit)")
        check_max(self, imgsz=MAX_IMGSZ)
        check_device(self.device)


def _tile_plan(cfg: DetectTrainConfig, data_dir: Path) -> TilePlan:
    t = cfg.tile
    plan = plan_tiles(
        data_dir,
        (cfg.train_split, cfg.val_split),
        mode=t.enabled,
        imgsz=cfg.imgsz,
        size=t.size,
        overlap=t.overlap,
        auto_factor=t.auto_factor,
        max_tiles=t.max_tiles,
    )
    if plan.tile and t.overlap and t.overlap < plan.cell_px:
        print(
            f"warning: tile.overlap={t.overlap} px is smaller than the largest cells ({plan.cell_px:.0f} px, "
            "99th percentile): a cell cut by a tile border may be whole in no tile"
        )
    return plan


def _find_resume(cfg: DetectTrainConfig, resume: str | Path | bool) -> Path:
    if resume is True:
        run = RunDir(Path(cfg.project) / cfg.name) if cfg.name else RunDir.newest(cfg.project, LAST)
        if run is None:
            raise MissingModelError(f"--resume: no run with {LAST} under {cfg.project}")
    else:
        p = Path(resume)
        run = RunDir(p.parent.parent if p.is_file() else p)
    if not run.last.is_file():
        raise MissingModelError(f"--resume: {run.last} does not exist (nothing to resume)")
    return run.path


def _prepare(cfg: DetectTrainConfig, run_dir: Path, resume: bool) -> tuple[dict[str, Any], Path]:
    """Resolve data (and tiles), device and threads; write config.yaml and run_info.json."""
    run = RunDir(run_dir)
    if resume:
        info = run.read_json(run.run_info.name)
        info["device"] = resolve_device(cfg.device)
        return info, Path(info["train_dir"])
    data_dir = resolve(cfg.data, data_root=cfg.data_root).absolute()
    check_detection_splits(data_dir, cfg.train_split, cfg.val_split)  # refuse data with nothing to learn
    splits = _split_note(data_dir, cfg)
    plan = _tile_plan(cfg, data_dir)  # refuse an exploding tiling before anything is written
    run_dir.mkdir(parents=True)  # only once the data is there: a failed start leaves no empty run
    tile = plan.tile
    train_dir = data_dir
    if tile:
        print(
            f"tiling {data_dir} into {plan.n_tiles} tiles of {tile}px (overlap {plan.overlap}px; "
            f"cells up to {plan.cell_px:.0f}px)"
        )
        train_dir = tile_dataset(
            data_dir,
            run_dir / "tiles",
            splits=(cfg.train_split, cfg.val_split),
            tile=tile,
            overlap=plan.overlap,
            min_visibility=cfg.tile.min_visibility,
        ).absolute()
    info = {
        "data_dir": str(data_dir),
        "train_dir": str(train_dir),
        "class_names": read_names(data_dir),
        "device": resolve_device(cfg.device),
        "threads": cfg.threads or cpu_threads(),
        "tile_size": tile,
        "tile_overlap": plan.overlap if tile else 0,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "splits": splits,
    }
    save_config(replace(cfg, augment=cfg.augment.resolved()), run.config)  # effective values
    run.write_json(run.run_info.name, info)
    return info, train_dir


def _split_note(data_dir: Path, cfg: DetectTrainConfig) -> dict[str, Any]:
    """Which splits the run fits (train, and val to pick best.pt); a held-out split is named, never read."""
    held = data_dir / "splits" / f"{HELD_OUT}.txt"
    n_held = len(held.read_text().split()) if held.is_file() else 0
    note = {"fitted": cfg.train_split, "selects_best": cfg.val_split, "held_out": {HELD_OUT: n_held} if n_held else {}}
    print(
        f"fitted on: split {cfg.train_split}; best.pt chosen on split {cfg.val_split}"
        + (f"; the data hold a {HELD_OUT!r} split ({n_held} images): left alone, never read" if n_held else "")
    )
    return note


def _build(cfg: DetectTrainConfig, info: dict[str, Any]) -> Any:
    names = info["class_names"]
    det = build(
        cfg.model,
        num_classes=len(names),
        class_names=names,
        pretrained=resolve_auto(cfg.pretrained, cfg.model),
        imgsz=cfg.imgsz,
        rois_per_image=cfg.rois_per_image,
    )
    det.meta.tile_size, det.meta.tile_overlap = info["tile_size"], info["tile_overlap"]
    det.meta.auto_tile_factor = cfg.tile.auto_factor
    if "pretrained" in info:
        det.meta.pretrained = info["pretrained"]
    return det


def train(
    cfg: DetectTrainConfig,
    *,
    resume: str | Path | bool = False,
    callbacks: Sequence[EpochCallback] = (),
    progress: bool = True,
) -> Path:
    """Train ``cfg.model`` on ``cfg.data``; return the run folder (see module docstring).

    Multi-GPU: YOLO takes a device list (``device="0,1"``) and runs ultralytics' own DDP;
    Faster R-CNN runs under ``torchrun --nproc_per_node N`` (one process per device, see
    :mod:`leukoscan.ddp`), where rank 0 alone creates and writes the run folder.
    """
    _check_multi_device(cfg)
    if ddp.world_size() > 1:
        ddp.init(resolve_device(cfg.device))  # join the group before rank 0 shares the run folder
    setup = ddp.broadcast(_setup_run(cfg, resume) if ddp.is_main() else None)
    cfg, run_dir, info, train_dir = setup
    if info is None:  # a resumed run that is already complete
        return run_dir
    threads = set_cpu_threads(info["threads"])
    det = _build(cfg, info)
    main = ddp.is_main()
    wb = _start_wandb(cfg, run_dir) if cfg.wandb.enabled and main else None
    log = RunLog(run_dir, wb.run if wb else None) if main else None
    evaluator = wb.epoch_evaluator if wb else ""
    cbs: list[EpochCallback] = ([epoch_logger(log, evaluator)] if log else []) + list(callbacks)
    args = FitArgs(
        data_dir=train_dir,
        run_dir=run_dir,
        epochs=cfg.epochs,
        batch=cfg.batch,
        device=info["device"],
        threads=threads,
        seed=cfg.seed,
        workers=cfg.workers,
        lr=cfg.lr,
        patience=cfg.patience,
        val=cfg.val,
        train_split=cfg.train_split,
        val_split=cfg.val_split,
        augment=cfg.augment,
        resume=bool(resume),
        amp=cfg.amp,
        callbacks=cbs,
        verbose=progress,
    )
    t0 = time.time()
    if main:  # read back by leukoscan.verdict.run_state: a run still training is never picked implicitly
        write_status(run_dir, TRAINING, epochs=cfg.epochs)
    try:
        fit_info = det.fit(args)
    except KeyboardInterrupt:
        if main:
            write_status(run_dir, INTERRUPTED, epochs=cfg.epochs)
        _resume_hint(run_dir)
        raise
    finally:
        ddp.cleanup()
    if not main:
        return run_dir
    train_seconds = time.time() - t0
    try:  # an interrupt in the final evaluation: --resume evaluates again (all epochs are done)
        _record_pretrained(run_dir, info, det.meta.pretrained)
        _record_optimizer(run_dir, info, fit_info, wb)
        best = load(run_dir)
        best.threads = threads
        best.to(first_device(info["device"]))
        _finish(cfg, run_dir, info, best, log, train_seconds, wb, progress)
    except KeyboardInterrupt:
        write_status(run_dir, INTERRUPTED, epochs=cfg.epochs)
        _resume_hint(run_dir)
        raise
    return run_dir


def _resume_hint(run_dir: Path) -> None:
    if RunDir(run_dir).last.is_file():
        print(
            f"\ninterrupted; continue with: leukoscan train-detector --resume {run_dir}"
            f"  (or: python tools/train_detector.py --resume {run_dir})",
            flush=True,
        )
    else:
        print(
            f"\ninterrupted before the first epoch finished: nothing to resume in {run_dir}; "
            "run the same command again to start over",
            flush=True,
        )


def _check_multi_device(cfg: DetectTrainConfig) -> None:
    kind = DETECTORS.kind_of(cfg.model)
    if ddp.world_size() > 1 and kind == "yolo":
        raise ConfigError(
            f"{cfg.model}: do not start YOLO under torchrun; pass the GPUs instead "
            "(--device 0,1) and ultralytics runs its own DDP"
        )
    if kind != "yolo" and "," in str(cfg.device):
        raise ConfigError(
            f"{cfg.model}: one process per GPU; run it under torchrun, e.g. "
            f"torchrun --nproc_per_node {len(str(cfg.device).split(','))} --no-python "
            f"leukoscan train-detector --model {cfg.model} --device cuda"
        )


def _setup_run(
    cfg: DetectTrainConfig, resume: str | Path | bool
) -> tuple[DetectTrainConfig, Path, dict[str, Any] | None, Path | None]:
    """Rank 0: pick (or find) the run folder, prepare data -> (cfg, run_dir, info, train_dir);
    ``info`` is None when a resumed run is already complete."""
    if resume:
        run_dir = _find_resume(cfg, resume)
        device = cfg.device
        cfg = replace(load_config(DetectTrainConfig, run_dir / "config.yaml"), device=device)
        if (run_dir / "metrics.json").is_file():
            print(f"{run_dir}: training already complete (metrics.json present); nothing to resume")
            return cfg, run_dir, None, None
        print(f"resuming {run_dir} from weights/last.pt")
    else:
        run_dir = RunDir.new(cfg.project, cfg.name, default=cfg.model).path
    info, train_dir = _prepare(cfg, run_dir, bool(resume))
    return cfg, run_dir, info, train_dir


def _start_wandb(cfg: DetectTrainConfig, run_dir: Path) -> WandbLog:

    info = RunDir(run_dir).read_json(RunDir(run_dir).run_info.name)
    config = {
        **to_dict(replace(cfg, augment=cfg.augment.resolved())),
        "run": {k: info.get(k) for k in ("device", "threads", "tile_size", "tile_overlap", "class_names")},
    }
    log = WandbLog(
        run_dir,
        project=cfg.wandb.project,
        entity=cfg.wandb.entity,
        name=run_dir.name,
        config=config,
        class_names=info["class_names"],
    )
    if cfg.model.startswith("yolo"):  # the registry entry carries no backend kind
        log.epoch_evaluator = "ultralytics"  # per-epoch mAP from ultralytics' validator, not ours
    return log


def _record_pretrained(run_dir: Path, info: dict[str, Any], state: str) -> None:
    if info.get("pretrained") != state:
        info["pretrained"] = state
        RunDir(run_dir).write_json(RunDir(run_dir).run_info.name, info)


def _record_optimizer(run_dir: Path, info: dict[str, Any], fit_info: dict[str, Any], wb: Any) -> None:
    """The optimizer and initial lr the backend really used (``lr: null`` means "its default")."""
    used = {k: fit_info[k] for k in ("optimizer", "lr0") if fit_info.get(k) is not None}
    if used:
        info.update(used)
        RunDir(run_dir).write_json(RunDir(run_dir).run_info.name, info)
        if wb is not None:
            wb.config_update({"optimizer_used": used.get("optimizer"), "lr_used": used.get("lr0")})


def _leukocyte_ap50(m: Any) -> float | None:
    """Mean AP50 over the leukocyte classes present (None when the data have none)."""
    aps = [pc["ap50"] for n, pc in m.per_class.items() if n in LEUKOCYTE_CLASSES and pc["ap50"] is not None]
    return sum(aps) / len(aps) if aps else None


def _finish(
    cfg: DetectTrainConfig,
    run_dir: Path,
    info: dict[str, Any],
    det: Any,
    log: RunLog,
    train_seconds: float,
    wb: WandbLog | None,
    progress: bool,
) -> None:
    """Final COCO evaluation of ``best`` on the val split -> metrics.json (+ W&B table)."""
    data_dir = Path(info["data_dir"])
    gt, preds = predict_split(det, data_dir, cfg.val_split, conf=cfg.eval_conf, progress=progress)
    m = coco_evaluate(gt, coco_results(gt, preds))
    m.centroids = split_centroid_hits(data_dir, cfg.val_split, gt, preds, DETECT_CONF)
    rec = write_records(run_dir, data_dir, cfg.val_split, gt, preds, det.class_names, n_samples=cfg.wandb.n_samples)
    times = log.column("epoch_time_s")
    verdict = training_verdict(gt, preds, _leukocyte_ap50(m))
    out = {
        "model": cfg.model,
        "data": cfg.data,
        "data_dir": str(data_dir),
        "split": cfg.val_split,
        "fitted_on": cfg.train_split,
        "scored": f"split {cfg.val_split} (also chose best.pt: not an independent test)",
        "epochs": len(log.rows()),
        "imgsz": cfg.imgsz,
        "batch": cfg.batch,
        "device": info["device"],
        "threads": info["threads"],
        "pretrained": det.meta.pretrained,
        "tile_size": info["tile_size"],
        "train_seconds_this_session": round(train_seconds, 1),
        "seconds_per_epoch": round(sum(times) / len(times), 2) if times else None,
        "weights": str(RunDir(run_dir).best),
        **m.to_dict(),
        "verdict": verdict.to_dict(),
    }
    RunDir(run_dir).write_json(RunDir(run_dir).metrics.name, out)
    write_status(run_dir, COMPLETE, epochs=cfg.epochs)
    other = (
        (
            "; ultralytics' own validator printed above scores the same weights its own way: "
            "its figures are kept apart, as metrics/ultralytics_* in W&B"
        )
        if cfg.model.startswith("yolo")
        else ""
    )
    print(
        f"final evaluation of weights/best.pt on {cfg.val_split}: LeukoScan's COCO evaluator (pycocotools), "
        f"the figures of record (metrics.json, W&B final/*){other}"
    )
    print(m.summary())
    print(f"verdict: {verdict.text}")
    if wb is not None:
        wb.run.summary["verdict"] = verdict.text
        wb.final(out["epochs"] + 1, m.to_dict(), rec, weights=RunDir(run_dir).best)
        wb.finish()
