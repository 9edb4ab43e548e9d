"""Booby-trapped model files that pass a class allow-list: no payload runs, through any loader.

- constructor gadget: a checkpoint that *calls* ``DetectionModel(cfg)`` (pickle ``REDUCE``)
  with an ``activation`` string ultralytics would ``eval``;
- nested loader: the same call with a "layer" named ``torch_safe_load`` that loads a pickle;
- a well-formed (``NEWOBJ``) network whose stored description carries the ``eval`` string or
  the nested loader, which LeukoScan would rebuild from;
- ``model.skops`` holding a numpy callable that ``exec``s, or a non-classifier;
- a torch classifier whose build arguments name a file to load.

Each payload would create ``PWNED``; every entry point that loads a model (``infer --detector``,
``infer --classifier``, ``evaluate-detector --weights``, ``export``, the Python API) must refuse
the file with one line and the marker must never appear. Models LeukoScan itself saves keep
loading without ``--trust-model``.
"""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
import torch
from detect_fixtures import make_untrained_models

from leukoscan import classify, detect
from leukoscan.errors import BadInputError
from leukoscan.pipeline.infer.cascade import load_pipeline
from leukoscan.trust import SKOPS_TYPES, UntrustedModelError, torch_load

MARK = "PWNED"


def _cfg() -> dict:
    from ultralytics.nn.tasks import yaml_model_load

    cfg = copy.deepcopy(yaml_model_load("yolov8n.yaml"))
    cfg["nc"] = 3
    return cfg


def _act_payload(marker) -> str:
    return f"__import__('os').system('touch {marker}')"


def _evil_pickle(tmp_path, marker):
    class P:
        def __reduce__(self):
            import os

            return (os.system, (f"touch {marker}",))

    path = tmp_path / "inner.pt"
    path.write_bytes(pickle.dumps(P()))
    return path


def _loader_cfg(tmp_path, marker) -> dict:
    cfg = _cfg()
    cfg["head"] = [
        *cfg["head"][:-1],
        [-1, 1, "torch_safe_load", [repr(str(_evil_pickle(tmp_path, marker)))]],
        cfg["head"][-1],
    ]
    return cfg


class Gadget:
    """Pickles as ``DetectionModel(cfg)``: the constructor called with arguments the file chose."""

    def __init__(self, cfg: dict) -> None:
        self.cfg = cfg

    def __reduce__(self):
        from ultralytics.nn.tasks import DetectionModel

        return (DetectionModel, (self.cfg,))


def gadget_act(tmp_path):
    cfg = _cfg()
    cfg["activation"] = _act_payload(tmp_path / MARK)
    return Gadget(cfg)


def gadget_loader(tmp_path):
    return Gadget(_loader_cfg(tmp_path, tmp_path / MARK))


def _real_net():
    from ultralytics.nn.tasks import DetectionModel

    return DetectionModel(_cfg(), nc=3, verbose=False)


def newobj_act(tmp_path):
    net = _real_net()
    net.yaml["activation"] = _act_payload(tmp_path / MARK)
    return net


def newobj_loader(tmp_path):
    net = _real_net()
    net.yaml = _loader_cfg(tmp_path, tmp_path / MARK)
    return net


TRAPS = {
    "constructor gadget (activation eval)": gadget_act,
    "constructor gadget (nested loader)": gadget_loader,
    "stored description (activation eval)": newobj_act,
    "stored description (nested loader)": newobj_loader,
}


def _det_file(tmp_path, trap) -> str:
    path = tmp_path / "best.pt"
    meta = {"backend": "yolov8n", "class_names": ["WBC", "RBC", "Platelets"], "imgsz": 64}
    torch.save({"model": TRAPS[trap](tmp_path), "train_args": {}, "leukoscan": meta}, path)
    return str(path)


def _clf_run(tmp_path, trap) -> str:
    run = tmp_path / "clf_run"
    run.mkdir()
    torch.save(
        {
            "name": "cnn",
            "class_names": ["blast", "normal"],
            "preprocess": {"input_size": 32},
            "build_kwargs": {},
            "state_dict": TRAPS[trap](tmp_path),
        },
        run / "model.pt",
    )
    return str(run)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return make_untrained_models(tmp_path_factory.mktemp("gadget_models"))


ENTRY_POINTS = {
    "detect.load": lambda f, m, tool: detect.load(f["det"]),
    "classify.load": lambda f, m, tool: classify.load(f["clf"]),
    "Python API load_pipeline (detector)": lambda f, m, tool: load_pipeline(f["det"], m["clf"]),
    "Python API load_pipeline (classifier)": lambda f, m, tool: load_pipeline(m["det"], f["clf"]),
    "infer --detector": lambda f, m, tool: tool("infer").main(
        [f["img"], "--detector", f["det"], "--classifier", m["clf"], "--out", f["out"]]
    ),
    "infer --classifier": lambda f, m, tool: tool("infer").main(
        [f["img"], "--detector", m["det"], "--classifier", f["clf"], "--out", f["out"]]
    ),
    "evaluate-detector --weights": lambda f, m, tool: tool("evaluate_detector").main(
        ["--weights", f["det"], "--data", m["data"]]
    ),
    "export --detector": lambda f, m, tool: tool("export").main(["--detector", f["det"], "--classifier", m["clf"]]),
}


@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
@pytest.mark.parametrize("trap", list(TRAPS))
def test_no_payload_runs(trap, entry, models, tool, tmp_path, capsys, monkeypatch):
    from PIL import Image

    from leukoscan.synthetic import make_smear

    monkeypatch.chdir(tmp_path)
    img = tmp_path / "slide.png"
    Image.fromarray(make_smear(96, 128, seed=0).image).save(img)
    files = {
        "det": _det_file(tmp_path, trap),
        "clf": _clf_run(tmp_path, trap),
        "img": str(img),
        "out": str(tmp_path / "out"),
    }
    capsys.readouterr()
    if entry.startswith(("infer", "evaluate", "export")):
        code = ENTRY_POINTS[entry](files, models, tool)
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(err) == 1 and err[0].startswith("error: ") and "--trust-model" in err[0], err
    else:
        with pytest.raises(UntrustedModelError, match="--trust-model"):
            ENTRY_POINTS[entry](files, models, tool)
    assert not (tmp_path / MARK).exists(), "the payload ran"


def test_own_yolo_checkpoint_is_rebuilt_not_unpickled(tmp_path):
    """A plain ultralytics checkpoint loads without trust, as records rebuilt into the same network."""
    from ultralytics import YOLO

    from leukoscan.trust import LayerRecord

    path = tmp_path / "y.pt"
    YOLO("yolov8n.yaml").save(str(path))
    ckpt = torch_load(path, layers=True)
    assert isinstance(ckpt["model"], LayerRecord) and ckpt["model"].qualname.endswith("DetectionModel")
    det = detect.load(path)
    trusted = torch_load(path, trust=True)["model"].float()
    rebuilt = det._net
    assert type(rebuilt).__name__ == "DetectionModel"
    for k, v in trusted.state_dict().items():
        assert torch.equal(rebuilt.state_dict()[k], v), k
    img = np.full((64, 64, 3), 200, np.uint8)
    det.predict_full(img, conf=0.5, iou=0.5)  # runs through our rebuilt network


def _skops_state(estimator) -> dict:
    return {
        "format": 1,
        "kind": "sklearn",
        "name": "handcrafted+rf",
        "class_names": ["blast", "normal"],
        "preprocess": {"input_size": 32, "steps": []},
        "estimator": estimator,
        "features": {},
    }


def test_skops_callable_and_non_classifier_refused(tmp_path):
    import numpy.testing._private.utils as npt_utils
    import skops.io as sio
    from sklearn.preprocessing import StandardScaler

    run = tmp_path / "run"
    run.mkdir()
    sio.dump(_skops_state(npt_utils.runstring), run / "model.skops")  # exec(string, dict)
    with pytest.raises(UntrustedModelError, match="runstring.*--trust-model"):
        classify.load(run)
    sio.dump(_skops_state(StandardScaler().fit(np.zeros((3, 2)))), run / "model.skops")
    with pytest.raises(UntrustedModelError, match="not a scikit-learn classifier"):
        classify.load(run)


def test_own_estimators_need_only_listed_skops_types(tmp_path):
    """Every estimator LeukoScan saves loads without trust: its skops types are all listed."""
    import skops.io as sio

    from leukoscan.classify.classical.classifiers import ESTIMATORS, EXTRA_ESTIMATORS
    from leukoscan.classify.models import _estimator

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 5)), np.array([0, 1] * 20)
    makers = {
        **ESTIMATORS,
        **EXTRA_ESTIMATORS,
        "zoo_svm": lambda s: _estimator("svm", s),
        "zoo_rf": lambda s: _estimator("rf", s),
    }
    for name, make in makers.items():
        est = make(0)
        if hasattr(est, "n_estimators"):
            est.set_params(n_estimators=5)
        est.fit(x, y)
        extra = set(sio.get_untrusted_types(data=sio.dumps(_skops_state(est)))) - SKOPS_TYPES
        assert not extra, f"{name}: {sorted(extra)}"


def test_classifier_build_arguments_are_typed(tmp_path, models):
    blob = torch.load(models["clf"] + "/model.pt", weights_only=True)
    blob["build_kwargs"] = {"backbone_weights": str(tmp_path / "x.pt")}
    run = tmp_path / "r"
    run.mkdir()
    torch.save(blob, run / "model.pt")
    with pytest.raises(BadInputError, match="backbone_weights"):
        classify.load(run)


def test_detector_meta_is_typed(tmp_path, models):
    ckpt = torch.load(models["det"], weights_only=True)
    ckpt["leukoscan"]["imgsz"] = 10**9
    torch.save(ckpt, tmp_path / "d.pt")
    with pytest.raises(BadInputError, match="imgsz"):
        detect.load(tmp_path / "d.pt")
