"""ultralytics YOLO backend (YOLOv8 n/s/m, YOLOv5 nu/su): the ONLY ultralytics import.

Training calls ultralytics' own trainer (``model.train``) with our augmentation config
mapped onto its arguments, and reports each epoch to our callbacks. ultralytics writes
into our run folder: ``weights/{best,last}.pt`` (its checkpoint format, with our
:class:`~leukoscan.detect.base.DetectorMeta` stamped in under the ``"leukoscan"`` key after
training), ``results.csv`` and ``args.yaml``.

Threads: ultralytics resets torch to ``cpu_count - 1`` threads (1 on a 2-core box)
when it selects the device; we set ``FitArgs.threads`` again at the start of every
epoch (see :func:`leukoscan.device.cpu_threads` for the choice).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml

from leukoscan.bundled import bundled_file, bundled_names, read_weights
from leukoscan.detect.augment import AugmentConfig, ultralytics_args
from leukoscan.detect.backends.yolo_arch import check_architecture
from leukoscan.detect.base import BaseDetector, DetectorMeta, FitArgs, with_class_names
from leukoscan.detect.pretrained import BLOOD_DETECTOR, warn_scratch
from leukoscan.detect.registry import DETECTORS
from leukoscan.errors import BadInputError, ConfigError, MissingModelError
from leukoscan.io import atomic_path, atomic_write_json
from leukoscan.offline import offline, offline_var
from leukoscan.runs import twin_source
from leukoscan.trust import TRUST_HINT, LayerRecord, UntrustedModelError, torch_load

if TYPE_CHECKING:
    import supervision as sv

YOLO_MODELS = ("yolov8n", "yolov8s", "yolov8m", "yolov5nu", "yolov5su")

_METRIC_NAMES = {
    "metrics/precision(B)": "precision",
    "metrics/recall(B)": "recall",
    "metrics/mAP50(B)": "map50",
    "metrics/mAP50-95(B)": "map50_95",
}


def offline_fonts() -> bool:
    """Offline: stop ultralytics asking its font host (it checks a URL even when YOLO_OFFLINE is set).

    ultralytics calls ``check_font`` on every training start (dataset check) and when it
    draws; missing fonts are fetched after ``requests.head`` on the assets host. Offline,
    its font lookup is replaced by a local one: the ultralytics config dir, then
    matplotlib's fonts, then matplotlib's bundled DejaVu Sans. Returns True when patched.
    """
    if not offline():
        return False
    import ultralytics.data.utils as data_utils
    import ultralytics.utils.checks as checks
    import ultralytics.utils.plotting as plotting

    if getattr(checks.check_font, "leukoscan_offline", False):
        return True

    def check_font(font: str = "Arial.ttf") -> Path:
        from matplotlib import font_manager

        local = Path(checks.USER_CONFIG_DIR) / Path(font).name
        if local.exists():
            return local
        found = [f.fname for f in font_manager.fontManager.ttflist if font in f.fname]
        return Path(found[0]) if found else Path(font_manager.findfont("DejaVu Sans"))

    check_font.leukoscan_offline = True  # type: ignore[attr-defined]
    for mod in (checks, data_utils, plotting):
        mod.check_font = check_font
    return True


def _ul_device(device: str) -> str:
    return "cpu" if device == "cpu" else device.replace("cuda:", "")


def write_data_yaml(data_dir: Path, out: Path, train_split: str, val_split: str, names: list[str]) -> Path:
    """An ultralytics data.yaml for ``data_dir`` with the chosen splits (absolute path)."""
    doc = {
        "path": str(Path(data_dir).resolve()),
        "train": f"images/{train_split}",
        "val": f"images/{val_split}",
        "names": dict(enumerate(names)),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(doc, sort_keys=False))
    return out


class YoloDetector(BaseDetector):
    """An ultralytics YOLO model behind the :class:`~leukoscan.detect.base.BaseDetector` interface."""

    def __init__(
        self,
        meta: DetectorMeta,
        *,
        weights: Path | None = None,
        pretrained: bool | str = False,
        net: Any = None,
    ) -> None:
        self.meta = meta
        self._weights = Path(weights) if weights else None
        self._net = net  # a network LeukoScan rebuilt from the checkpoint (rebuild_ultralytics)
        self._want_pretrained = pretrained
        self._model: Any = None
        self.device = "cpu"
        self.threads = 0

    # ---- model creation -------------------------------------------------------------
    def _initial_model(self) -> Any:
        from ultralytics import YOLO

        name = self.meta.backend
        if isinstance(self._want_pretrained, str):  # "blood" (bundled) or a LeukoScan weights file
            return self._blood_init(self._want_pretrained)
        if self._want_pretrained:
            var = offline_var()
            if var:
                warn_scratch(name, f"offline: {var} is set")
            else:
                try:
                    model = YOLO(f"{name}.pt")
                    self.meta.pretrained = "true"
                    return model
                except Exception as e:  # ultralytics raises several types on download failure
                    warn_scratch(name, f"download failed: {str(e).splitlines()[0][:120]}")
            self.meta.pretrained = "false (unavailable)"
        else:
            self.meta.pretrained = "false"
        return YOLO(f"{name}.yaml")

    def _blood_init(self, source: str) -> Any:
        """A fresh model whose layers start from a LeukoScan weights file (shapes that match;
        the class head is new when the class count differs). ultralytics' trainer copies
        them into the model it builds because ``ckpt`` is set and ``pretrained=True``."""
        from ultralytics.utils.torch_utils import intersect_dicts

        path, label = init_weights_path(source, self.meta.backend)
        blob = read_weights(path)
        if blob["leukoscan"]["backend"] != self.meta.backend:
            raise ConfigError(
                f"pretrained={source}: weights of {blob['leukoscan']['backend']}, not "
                f"{self.meta.backend}; use --model {blob['leukoscan']['backend']}"
            )
        from ultralytics.nn.tasks import DetectionModel

        source_meta = DetectorMeta.from_dict(blob["leukoscan"])
        net = net_from_state(source_meta, blob["state_dict"], path)
        model = wrap_network(net, path)
        # what reaches the network this run trains (its own class count): the class head is new when it differs
        target = DetectionModel(f"{self.meta.backend}.yaml", nc=len(self.meta.class_names), verbose=False).state_dict()
        matched = intersect_dicts({k: v.float() for k, v in blob["state_dict"].items()}, target)
        n_src, n_own = len(source_meta.class_names), len(self.meta.class_names)
        head = f" (class head new: {n_src} -> {n_own} classes)" if n_src != n_own else ""
        print(f"init {self.meta.backend} from {label}: {len(matched)}/{len(target)} tensors{head}", flush=True)
        model.ckpt = {"leukoscan_init": str(path)}
        self.meta.pretrained = label
        return model

    @property
    def model(self) -> Any:
        if self._model is None:
            from ultralytics import YOLO

            if self._weights is None:
                raise RuntimeError(f"{self.meta.backend}: no weights yet; train it or load a weights file")
            if self._net is not None:  # never hand the file to ultralytics' (pickle) loader
                self._model = wrap_network(self._net, self._weights)
                return self._model
            task = {"task": "detect"} if self._weights.suffix == ".onnx" else {}
            self._model = YOLO(str(self._weights), **task)
        return self._model

    def export_onnx(self, path: str | Path) -> Path:
        """Write an ONNX copy (dynamic input shape, so letterboxing matches the .pt path)
        plus ``<path>.json`` with our meta; :func:`load_yolo` runs it with onnxruntime."""
        path = Path(path)
        if self._weights is not None and self._weights.suffix == ".onnx":
            raise BadInputError(f"{self._weights} is already an ONNX model")
        net = self.model.model
        with tempfile.TemporaryDirectory(dir=path.parent if path.parent.is_dir() else None) as tmp:
            # ultralytics writes <pt_path>.onnx: point it into a private folder, so nothing at the
            # destination (a symlink to the user's file) is written through
            before, net.pt_path = getattr(net, "pt_path", None), str(Path(tmp) / "model.pt")
            try:
                out = Path(
                    self.model.export(
                        format="onnx", imgsz=self.meta.imgsz, dynamic=True, simplify=False, device="cpu", verbose=False
                    )
                )
            finally:
                net.pt_path = before
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(path) as dst:  # os.replace: a symlink at ``path`` is replaced, not followed
                shutil.copyfile(out, dst)
        meta = {**json.loads(json.dumps(self.meta.to_dict())), **twin_source(self._weights)}
        atomic_write_json(path.with_suffix(".json"), meta)
        self._model = None  # export fuses layers in place: rebuild (or reload lazily) for further use
        if self._net is not None or self._weights is not None and self._weights.suffix == ".pt":
            try:
                fresh = load_yolo(self._weights, torch_load(self._weights, layers=True, what="detector checkpoint"))
                self._model, self._net = fresh._model, fresh._net
            except UntrustedModelError:  # loaded with --trust-model: ultralytics reads it again lazily
                self._net = None
        return path

    # ---- training ---------------------------------------------------------------------
    def _callbacks(self, args: FitArgs, used: dict[str, Any]) -> dict[str, Any]:
        import torch

        state = {"in_epoch": False}

        def train_start(trainer: Any) -> None:  # the optimizer ultralytics chose (optimizer=auto)
            opt = trainer.optimizer
            used.update(
                optimizer=type(opt).__name__,
                lr0=float(opt.param_groups[0].get("initial_lr", opt.param_groups[0]["lr"])),
            )

        def epoch_start(trainer: Any) -> None:
            torch.set_num_threads(args.threads)
            state["in_epoch"] = True

        def fit_epoch_end(trainer: Any) -> None:
            if not state["in_epoch"]:  # ultralytics' final re-validation of best.pt
                return
            state["in_epoch"] = False
            metrics = epoch_metrics(trainer)
            for cb in args.callbacks:
                cb(trainer.epoch + 1, metrics)

        return {
            "on_pretrain_routine_start": lambda t: torch.set_num_threads(args.threads),
            "on_train_epoch_start": epoch_start,
            "on_fit_epoch_end": fit_epoch_end,
            "on_train_start": train_start,
        }

    def _train_kwargs(self, args: FitArgs, data_yaml: Path) -> dict[str, Any]:
        kw: dict[str, Any] = {
            "data": str(data_yaml.resolve()),  # absolute: --resume may run from another directory
            "epochs": args.epochs,
            "imgsz": self.meta.imgsz,
            "batch": args.batch,
            "device": _ul_device(args.device),
            "workers": args.workers,
            "seed": args.seed,
            "deterministic": True,  # ultralytics' default today; explicit so a changed default cannot drop it
            "patience": args.patience,
            "val": args.val,
            "project": str(args.run_dir.resolve().parent),
            "name": args.run_dir.name,
            "exist_ok": True,
            "plots": False,
            "verbose": args.verbose,
            "pretrained": self.meta.pretrained == "true" or self.meta.pretrained.startswith("blood"),
        }
        if args.lr is not None:
            kw.update(lr0=args.lr, optimizer="SGD")
        kw.update(ultralytics_args(args.augment or AugmentConfig()))
        return kw

    def fit(self, args: FitArgs) -> dict[str, Any]:
        from ultralytics import YOLO

        offline_fonts()
        self.device, self.threads = args.device, args.threads
        last = args.run_dir / "weights" / "last.pt"
        t0 = time.time()
        if args.resume:
            if not last.is_file():
                raise MissingModelError(f"cannot resume: {last} does not exist")
            # ultralytics' trainer unpickles last.pt itself: check it is plain data + a valid network first
            ckpt = torch_load(last, layers=True, what="detector checkpoint")
            rebuild_ultralytics(last, ckpt)
            if ckpt.get("epoch") == -1:  # ultralytics strips last.pt after its last epoch: the loop is done
                print(f"{last}: all epochs done (interrupted in the final validation); finishing the run")
                return self._after_training(args, t0, {})
            model = YOLO(str(last))
            kw: dict[str, Any] = {"resume": True, "device": _ul_device(args.device), "workers": args.workers}
        else:
            model = self._initial_model()
            data_yaml = write_data_yaml(
                args.data_dir, args.run_dir / "data.yaml", args.train_split, args.val_split, self.class_names
            )
            kw = self._train_kwargs(args, data_yaml)
        used: dict[str, Any] = {}
        for event, fn in self._callbacks(args, used).items():
            model.add_callback(event, fn)
        kw["amp"] = args.amp
        with without_raytune():
            model.train(**kw)
        if "," in _ul_device(args.device):  # ultralytics' DDP workers run without our callbacks
            replay_results(args.run_dir / "results.csv", args.callbacks)
        return self._after_training(args, t0, used)

    def _after_training(self, args: FitArgs, t0: float, used: dict[str, Any]) -> dict[str, Any]:
        """Our meta into best/last.pt; the detector now runs best.pt."""
        (args.run_dir / "results.csv").unlink(missing_ok=True)  # metrics.csv is the run's one table
        best, last = args.run_dir / "weights" / "best.pt", args.run_dir / "weights" / "last.pt"
        for path in (best, last):
            if path.is_file():
                stamp_meta(path, self.meta)
        self._weights, self._model = (best if best.is_file() else last), None
        return {"seconds": time.time() - t0, "weights": str(self._weights), **used}

    # ---- inference ----------------------------------------------------------------------
    def predict_full(self, image: np.ndarray, *, conf: float, iou: float) -> sv.Detections:
        import supervision as sv
        import torch

        bgr = np.ascontiguousarray(image[..., ::-1])  # ultralytics reads numpy arrays as BGR
        res = self.model.predict(
            bgr,
            conf=conf,
            iou=iou,
            imgsz=self.meta.imgsz,
            device=_ul_device(self.device),
            verbose=False,
            **fp16_kwargs(self.device),
        )[0]
        if self.threads:
            torch.set_num_threads(self.threads)  # its predictor reset them
        return with_class_names(sv.Detections.from_ultralytics(res), self.class_names)

    def save(self, path: str | Path) -> Path:
        if self._weights is None:
            raise RuntimeError("nothing to save: the model has no weights yet")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.resolve() != self._weights.resolve():
            shutil.copyfile(self._weights, path)
        stamp_meta(path, self.meta)
        return path


@contextlib.contextmanager
def without_raytune() -> Iterator[None]:
    """Keep ultralytics' Ray Tune reporter out of our trainings.

    ultralytics adds it to every trainer when ray is installed (``SETTINGS["raytune"]``,
    read per trainer, also by its DDP workers) and it then warns every epoch outside a Tune
    trial ("get_trial_id is meant to only be called inside a Tuner"). The setting is
    turned off for the training and restored after it.
    """
    from ultralytics.utils import SETTINGS

    before = SETTINGS.get("raytune")
    if before:
        SETTINGS.update(raytune=False)
    try:
        yield
    finally:
        if before:
            SETTINGS.update(raytune=before)


def replay_results(results_csv: Path, callbacks: Sequence[Any]) -> None:
    """Report each epoch of ultralytics' ``results.csv`` to ``callbacks`` (after a DDP run)."""
    import csv

    if not callbacks or not results_csv.is_file():
        return
    with open(results_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    elapsed = 0.0  # ultralytics' "time" column is cumulative
    for row in rows:
        row = {k.strip(): v for k, v in row.items()}
        epoch = int(float(row.pop("epoch")))
        now = float(row.pop("time", 0) or 0)
        metrics = {"epoch_time_s": now - elapsed}
        elapsed = now
        for k, v in row.items():
            name = _METRIC_NAMES.get(k, k.replace("/", "_").replace("(B)", ""))
            metrics["lr" if k == "lr/pg0" else name] = float(v)
        for cb in callbacks:
            cb(epoch, metrics)


def fp16_kwargs(device: str) -> dict[str, Any]:
    """ultralytics predict arguments for float16 inference on CUDA (none on the CPU).

    ``quantize=16`` since ultralytics 8.4 (``half`` is deprecated there and warns on every
    call, also when False); ``half=True`` before."""
    if not str(device).startswith("cuda"):
        return {}
    from ultralytics.cfg import DEFAULT_CFG_DICT

    return {"quantize": 16} if "quantize" in DEFAULT_CFG_DICT else {"half": True}


def epoch_metrics(trainer: Any) -> dict[str, float]:
    """ultralytics trainer state after an epoch -> flat ``{name: float}``."""
    out: dict[str, float] = {"epoch_time_s": float(getattr(trainer, "epoch_time", 0.0) or 0.0)}
    for k, v in trainer.label_loss_items(trainer.tloss, prefix="train").items():
        out[k.replace("/", "_")] = float(v)
    for k, v in (trainer.metrics or {}).items():
        out[_METRIC_NAMES.get(k, k.replace("/", "_").replace("(B)", ""))] = float(v)
    lrs = getattr(trainer, "lr", {}) or {}
    if lrs:
        out["lr"] = float(next(iter(lrs.values())))
    return out


def stamp_meta(path: Path, meta: DetectorMeta) -> None:
    """Add our meta to an ultralytics checkpoint file (ultralytics ignores extra keys)."""
    import torch

    ckpt = torch_load(path, trust=True)  # the file ultralytics just wrote in our run folder
    ckpt["leukoscan"] = meta.to_dict()
    with atomic_path(path) as tmp:
        torch.save(ckpt, tmp)


def _names_of(model: Any) -> Any:
    return model.state.get("names") if isinstance(model, LayerRecord) else getattr(model, "names", None)


def meta_from_ultralytics(ckpt: dict[str, Any], path: Path) -> DetectorMeta:
    """Meta for a plain ultralytics checkpoint (trained outside LeukoScan)."""
    model = ckpt.get("ema") or ckpt.get("model")
    names = _names_of(model) or {}
    names = [names[i] for i in sorted(names)] if isinstance(names, dict) else list(names)
    args = ckpt.get("train_args") or {}
    stem = Path(str(args.get("model", "yolov8n"))).stem
    backend = stem if stem in YOLO_MODELS else "yolov8n"
    return DetectorMeta(backend=backend, class_names=names, imgsz=int(args.get("imgsz", 640)))


WEIGHTS_FORMAT = "leukoscan-weights/1"


def init_weights_path(source: str, backend: str) -> tuple[Path, str]:
    """``pretrained`` as a bundled name (``blood`` -> ``blood_<backend>``) or a weights file."""
    if Path(source).suffix == ".pt":
        if not Path(source).is_file():
            raise MissingModelError(f"pretrained={source}: no such weights file")
        return Path(source), f"blood (file {Path(source).name})"
    have = bundled_names("detector")
    alias = {"blood": BLOOD_DETECTOR.format(model=backend)}  # the open-data detector of this architecture
    name = next((n for n in (alias.get(source), f"{source}_{backend}", source) if n in have), source)
    return bundled_file(name), f"blood (bundled {name})"


def net_from_state(meta: DetectorMeta, state: dict[str, Any], path: Path) -> Any:
    """The network of a LeukoScan weights file, built from the architecture's own packaged YAML
    (``meta.backend``) with every tensor of ``state`` fitting it (no pickle); the same kind of
    network :func:`rebuild_ultralytics` returns, for :func:`wrap_network`."""
    from ultralytics.cfg import DEFAULT_CFG_DICT
    from ultralytics.nn.tasks import DetectionModel

    net = DetectionModel(f"{meta.backend}.yaml", nc=len(meta.class_names), verbose=False)
    try:
        net.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
    except RuntimeError as e:
        raise BadInputError(
            f"{path}: {meta.backend} weights do not fit the architecture ({str(e).strip().splitlines()[0][:160]})"
        ) from e
    net.names = dict(enumerate(meta.class_names))
    net.args = {**DEFAULT_CFG_DICT, "imgsz": meta.imgsz}
    net.pt_path, net.task = str(path), "detect"
    return net.float().eval()


def save_weights_file(det: YoloDetector, path: str | Path, extra: dict[str, Any] | None = None) -> Path:
    """Write ``det`` as a LeukoScan weights file: float16 state dict + meta, loadable weights-only."""
    import torch

    net = det.model.model
    state = {k: (v.half() if v.is_floating_point() else v).cpu() for k, v in net.state_dict().items()}
    meta = {**det.meta.to_dict(), "extra": {**det.meta.extra, **(extra or {})}}
    blob = {"format": WEIGHTS_FORMAT, "leukoscan": meta, "state_dict": state}
    with atomic_path(Path(path)) as tmp:
        torch.save(blob, tmp)
    return Path(path)


def build_yolo(
    name: str,
    *,
    num_classes: int,
    class_names: list[str] | None = None,
    pretrained: bool | str = True,
    imgsz: int = 640,
    **_: Any,
) -> YoloDetector:
    names = list(class_names) if class_names else [f"class{i}" for i in range(num_classes)]
    if len(names) != num_classes:
        raise ConfigError(f"num_classes={num_classes} but {len(names)} class names given")
    return YoloDetector(DetectorMeta(backend=name, class_names=names, imgsz=int(imgsz)), pretrained=pretrained)


def load_yolo(path: Path, ckpt: dict[str, Any]) -> YoloDetector:
    """A saved YOLO detector: our checkpoint, a plain ultralytics one, or an ONNX export
    (``ckpt`` is then its ``.json`` sidecar, see :func:`leukoscan.detect.registry.load`)."""
    meta = DetectorMeta.from_dict(ckpt["leukoscan"]) if "leukoscan" in ckpt else meta_from_ultralytics(ckpt, path)
    if ckpt.get("format") == WEIGHTS_FORMAT:  # a LeukoScan weights file: rebuilt from YAML + tensors
        return YoloDetector(meta, weights=path, net=net_from_state(meta, ckpt["state_dict"], path))
    record = ckpt.get("ema") or ckpt.get("model")
    net = rebuild_ultralytics(path, ckpt) if isinstance(record, LayerRecord) else None
    return YoloDetector(meta, weights=path, net=net)


def rebuild_ultralytics(path: Path, ckpt: dict[str, Any]) -> Any:
    """The network of an ultralytics checkpoint read as :class:`~leukoscan.trust.LayerRecord`
    (``torch_load(layers=True)``), rebuilt by us: the architecture description is validated
    (:func:`~leukoscan.detect.backends.yolo_arch.check_architecture`), a ``DetectionModel`` is
    built from it and the file's tensors are loaded into it (every key must fit)."""
    from ultralytics.cfg import DEFAULT_CFG_DICT
    from ultralytics.nn.tasks import DetectionModel

    record = ckpt.get("ema") or ckpt.get("model")
    if not isinstance(record, LayerRecord) or record.qualname != "ultralytics.nn.tasks.DetectionModel":
        raise UntrustedModelError(
            f"{path}: holds {record!r}, not an ultralytics detection network; not loaded ({TRUST_HINT})"
        )
    cfg = check_architecture(record.state.get("yaml"), path)
    names = _names_of(record)
    if isinstance(names, dict):
        names = [names[k] for k in sorted(names)] if all(isinstance(k, int) for k in names) else None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names) or len(names) != cfg["nc"]:
        raise BadInputError(f"{path}: class names {str(names)[:80]} do not fit the network ({cfg['nc']} classes)")
    try:
        net = DetectionModel(cfg, ch=int(cfg.get("channels", 3)), nc=cfg["nc"], verbose=False)
        net.load_state_dict(record.state_dict(), strict=True)
    except (RuntimeError, KeyError, TypeError, ValueError, IndexError) as e:  # tensors do not fit the network
        raise BadInputError(
            f"{path}: weights do not fit the network they describe ({str(e).strip().splitlines()[0][:160]})"
        ) from e
    train_args = ckpt.get("train_args") if isinstance(ckpt.get("train_args"), dict) else {}
    net.names = dict(enumerate(names))
    net.args = {**DEFAULT_CFG_DICT, **{k: v for k, v in train_args.items() if k in DEFAULT_CFG_DICT}}
    net.pt_path, net.task = str(path), "detect"
    return net.float().eval()


def wrap_network(net: Any, path: Path) -> Any:
    """An ultralytics ``YOLO`` object around a network we built (its predictor and exporter take
    the module; nothing reads ``path`` again)."""
    from ultralytics import YOLO

    model = YOLO("yolov8n.yaml", task="detect")  # ultralytics' own packaged description, replaced below
    model.model, model.ckpt, model.task = net, {}, "detect"
    model.overrides = {
        "imgsz": net.args.get("imgsz", 640),
        "data": net.args.get("data"),
        "task": "detect",
        "single_cls": net.args.get("single_cls", False),
        "model": str(path),
    }
    model.ckpt_path = model.model_name = str(path)
    return model


def is_ultralytics_checkpoint(ckpt: dict[str, Any]) -> bool:
    """A checkpoint written by ultralytics itself (no LeukoScan meta)."""
    return "train_args" in ckpt or "model" in ckpt and "leukoscan" not in ckpt


for _name in YOLO_MODELS:
    DETECTORS.add(_name, partial(build_yolo, _name), kind="yolo", load=load_yolo, recognizes=is_ultralytics_checkpoint)
