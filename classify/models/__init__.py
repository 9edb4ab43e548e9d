"""Zoo registration: every name in ``CLASSIFIERS`` is registered here, with its kind.

- Torch networks (``torch_zoo.NET_NAMES``): cnn, alexnet, resnet18, resnet50, googlenet,
  vgg16, shufflenet_v2, mobilenet_v2, cnn_rnn.
- ``<net>+svm`` / ``<net>+rf``: pooled deep features of the same network with its head
  removed (``num_classes=0``) -> StandardScaler -> SVC (RBF, C chosen by inner 3-fold CV,
  Platt-sigmoid probabilities via CalibratedClassifierCV) / RandomForest (500 trees). ``backbone_weights=PATH`` loads a
  backbone checkpoint (e.g. from in-domain pretraining) instead of ImageNet / random init.

``pretrained``: ``True`` = ImageNet weights when they can be had (download), ``False`` =
random init, ``"pbc"`` = LeukoScan's blood backbone of the same network, bundled with the
package (trained on the 8 PBC cell types, see :mod:`leukoscan.bundled`), or a path to a
``backbone.pt`` / weights file (``leukoscan pretrain-backbone``). The head is always new.
- ``handcrafted+svm`` / ``handcrafted+rf``: scikit-image features (``handcrafted.py``).

Each builder takes keyword-only ``num_classes``, ``pretrained``, optional
``class_names``, ``imgsz`` (input size override) and ``preprocess`` (a full
PreprocessCfg, used when loading). Kinds: ``"torch"`` (loaded from a ``model.pt`` blob) and
``"sklearn"`` (a composition saved with skops); ``meta["features"]`` names the feature extractor of a
composition. Heavy imports (torch, sklearn) happen inside builders.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from leukoscan.bundled import bundled_file
from leukoscan.classify.model import (
    DeepExtractor,
    SklearnClassifier,
    TorchClassifier,
)
from leukoscan.classify.models.handcrafted import HandcraftedExtractor
from leukoscan.classify.preprocess import PreprocessCfg
from leukoscan.classify.registry import CLASSIFIERS, load_sklearn_state, load_torch_state
from leukoscan.errors import BadInputError, ConfigError, MissingModelError

NET_NAMES = ("cnn", "alexnet", "resnet18", "resnet50", "googlenet", "vgg16", "shufflenet_v2", "mobilenet_v2", "cnn_rnn")
HEADS = ("svm", "rf")
# Declared input size per network (ImageNet networks: their pretraining size).
DEFAULT_SIZE = {"cnn": 64, "cnn_rnn": 64, "handcrafted": 128}


def default_preprocess(net: str, imgsz: int | None = None, steps: Sequence[str] = ()) -> PreprocessCfg:
    return PreprocessCfg(input_size=int(imgsz or DEFAULT_SIZE.get(net, 224)), steps=tuple(steps))


def _names(num_classes: int, class_names: Sequence[str] | None) -> tuple[str, ...]:
    if class_names is None:
        return tuple(f"class{i}" for i in range(num_classes))
    if len(class_names) != num_classes:
        raise ConfigError(f"{len(class_names)} class names for num_classes={num_classes}")
    return tuple(class_names)


def blood_backbone(pretrained: bool | str, net_name: str) -> Path | None:
    """The blood-backbone file named by ``pretrained`` (``"pbc"`` -> bundled ``pbc_<net>``, or a
    path, where ``{net}`` stands for the network, e.g. ``runs/classify/pbc_{net}/backbone.pt``);
    None for ``True``/``False`` (ImageNet / random init)."""
    if not isinstance(pretrained, str):
        return None
    pretrained = pretrained.replace("{net}", net_name)
    if pretrained.lower() in ("true", "false", "imagenet", "scratch", ""):
        raise ConfigError(f"pretrained={pretrained!r}: use true, false, 'pbc' or a backbone file path")
    if Path(pretrained).suffix in (".pt", ".pth"):
        if not Path(pretrained).is_file():
            raise MissingModelError(f"pretrained={pretrained}: no such backbone file")
        return Path(pretrained)
    return bundled_file(f"{pretrained}_{net_name}")


def _torch_builder(net_name: str):
    def build(
        *,
        num_classes: int = 2,
        pretrained: bool | str = True,
        class_names: Sequence[str] | None = None,
        imgsz: int | None = None,
        preprocess: PreprocessCfg | None = None,
        steps: Sequence[str] = (),
        **kw: Any,
    ) -> TorchClassifier:
        from leukoscan.classify.models.torch_zoo import build_net  # heavy: imports torch

        pre = preprocess or default_preprocess(net_name, imgsz, steps)
        blood = blood_backbone(pretrained, net_name)
        net = build_net(net_name, num_classes=num_classes, pretrained=pretrained is True, **kw)
        if blood is not None:
            load_backbone(net, str(blood))
        return TorchClassifier(net_name, net, _names(num_classes, class_names), pre, build_kwargs=kw)

    build.__doc__ = f"Torch classifier {net_name!r} (trunk + pooled linear head)."
    return build


def _estimator(head: str, seed: int):
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    if head == "svm":
        svc = CalibratedClassifierCV(
            SVC(kernel="rbf", class_weight="balanced", random_state=seed), method="sigmoid", cv=3, ensemble=False
        )
        grid = GridSearchCV(svc, {"estimator__C": [0.3, 1.0, 3.0, 10.0, 30.0]}, cv=3, scoring="balanced_accuracy")
        return make_pipeline(StandardScaler(), grid)
    return make_pipeline(
        StandardScaler(), RandomForestClassifier(n_estimators=500, class_weight="balanced", random_state=seed, n_jobs=1)
    )


def load_backbone(net: Any, path: str) -> None:
    """Load a backbone checkpoint (state dict or ``{"state_dict": ...}``) ignoring any head."""
    import torch

    if not Path(path).is_file():
        raise MissingModelError(f"backbone weights not found: {path}")
    blob = torch.load(path, map_location="cpu", weights_only=True)
    state = blob.get("state_dict", blob)
    state = {k: v for k, v in state.items() if not k.startswith("head.")}
    missing, unexpected = net.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.startswith("head.")]
    if missing or unexpected:
        raise BadInputError(f"{path}: backbone mismatch, missing {missing[:5]}, unexpected {unexpected[:5]}")


def _sklearn_builder(feat: str, head: str):
    def build(
        *,
        num_classes: int = 2,
        pretrained: bool | str = True,
        class_names: Sequence[str] | None = None,
        imgsz: int | None = None,
        preprocess: PreprocessCfg | None = None,
        steps: Sequence[str] = (),
        backbone_weights: str | None = None,
        seed: int = 0,
        **kw: Any,
    ) -> SklearnClassifier:
        pre = preprocess or default_preprocess(feat, imgsz, steps)
        if feat == "handcrafted":
            extractor: Any = HandcraftedExtractor(pre)
        else:
            import torch

            from leukoscan.classify.models.torch_zoo import build_net  # heavy: imports torch

            torch.manual_seed(seed)  # random-init backbones must be reproducible
            blood = blood_backbone(pretrained, feat) if feat != "handcrafted" else None
            backbone_weights = backbone_weights or (str(blood) if blood else None)
            net = build_net(feat, num_classes=0, pretrained=pretrained is True and not backbone_weights, **kw)
            if backbone_weights:
                load_backbone(net, backbone_weights)
            extractor = DeepExtractor(net, pre)
        return SklearnClassifier(f"{feat}+{head}", extractor, _estimator(head, seed), _names(num_classes, class_names))

    build.__doc__ = f"{feat} features -> scikit-learn {head}."
    return build


def _register() -> None:
    for net in NET_NAMES:
        CLASSIFIERS.add(net, _torch_builder(net), kind="torch", load=load_torch_state, features=net)
    for feat in (*NET_NAMES, "handcrafted"):
        for head in HEADS:
            CLASSIFIERS.add(
                f"{feat}+{head}", _sklearn_builder(feat, head), kind="sklearn", load=load_sklearn_state, features=feat
            )


_register()
