"""Named recipes: the rows of the seed review's ALL-IDB table as runnable approximations.

Not every row: **Das 2022b** (SVM, ALL-IDB, 99.39%) has no recipe. The row names only the
classifier and the data; its feature pipeline is not given in the table we work from, so
any recipe would be a guess presented as a reproduction. ``das2022`` (MobileNetV2 features +
SVM, Das 2022, 99.40%) is the nearest row and is not a stand-in for it.

A :class:`Recipe` is either *classical* (segmentation + feature sets + classifier, built
with :func:`.pipeline.build_classical`), *deep features* (a zoo backbone with its head
removed + a classical classifier) or *deep* (a zoo network trained end to end).

What is approximated everywhere (said once here, per row below):

- Papers tuned on their own splits and rarely give hyperparameters; we use the fixed
  defaults of :mod:`.classifiers` and :mod:`.segmentation` (nucleus score ``B - G``).
- No pretrained weights can be downloaded here: every "transfer learning" / "pretrained
  CNN" row uses the zoo network **randomly initialised** (seeded) as a feature extractor,
  or trains it **from scratch** at a small input size for few epochs. These rows test the
  pipeline, not ImageNet transfer; expect them below the papers.
- Crops are resized to ``size`` px (128 for classical rows) before segmentation.
- Feature selection steps of the papers (PCA, gain ratio, metaheuristics) are left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from leukoscan.errors import ConfigError

from ..model import DeepExtractor, SklearnClassifier
from ..models import _torch_builder, blood_backbone, load_backbone
from ..preprocess import PreprocessCfg
from .classifiers import build_estimator
from .extractor import ClassicalExtractor


@dataclass(frozen=True)
class Recipe:
    """One system of the review's table. ``reported``: accuracy (%) as published."""

    name: str
    system: str
    paper_data: str
    reported: str
    reported_value: float | None
    kind: str  # classical | deep_features | deep
    classifier: str = ""
    segmentation: str = ""
    features: tuple[str, ...] = ()
    backbone: str = ""  # zoo network for deep kinds
    size: int = 128
    epochs: int = 0  # deep only
    approximation: str = ""
    slides: bool = False  # also run on whole ALL-IDB1 slides (paper used ALL-IDB1 images)
    extra: dict = field(default_factory=dict)

    def extractor(
        self, *, seed: int = 0, pretrained: bool | str = False, steps: Sequence[str] = (), imgsz: int | None = None
    ) -> Any:
        """Deterministic feature extractor (classical or deep-feature recipes).

        ``pretrained`` (deep-feature recipes): False = random init (the seed table's rows), True =
        ImageNet (download), ``"pbc"`` = LeukoScan's blood backbone of the recipe's network (or a
        backbone file path); a network with no blood backbone is a MissingModelError.
        """
        pre = PreprocessCfg(input_size=int(imgsz or self.size), steps=tuple(steps))
        if self.kind == "classical":
            return ClassicalExtractor(self.segmentation, self.features, pre, seed)
        if self.kind == "deep_features":
            import torch

            from ..models.torch_zoo import build_net  # heavy: imports torch

            torch.manual_seed(seed)
            blood = blood_backbone(pretrained, self.backbone)
            net = build_net(self.backbone, num_classes=0, pretrained=pretrained is True)
            if blood is not None:
                load_backbone(net, str(blood))
            return DeepExtractor(net, pre)
        raise ConfigError(f"recipe {self.name!r} is trained end to end and has no extractor")

    def estimator(self, seed: int = 0) -> Any:
        return build_estimator(self.classifier, seed)

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


def _c(name, system, data, reported, value, seg, feats, clf, approx, slides=False, **kw) -> Recipe:
    return Recipe(
        name,
        system,
        data,
        reported,
        value,
        "classical",
        clf,
        seg,
        tuple(feats),
        approximation=approx,
        slides=slides,
        **kw,
    )


RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in [
        _c(
            "mishra2017",
            "Mishra 2017",
            "ALL-IDB1",
            "96.00",
            96.00,
            "watershed",
            ["glcm"],
            "rf",
            "Marker-controlled watershed nucleus; GLCM (7 Haralick properties, 16 levels, 4 angles); "
            "random forest (300 trees). The paper's lymphocyte extraction from ALL-IDB1 images is "
            "replaced by ALL-IDB2 crops (cut from ALL-IDB1) and, for slides, nucleus patches.",
            slides=True,
        ),
        _c(
            "rawat2017",
            "Rawat 2017",
            "ALL-IDB1",
            "89.80",
            89.80,
            "otsu",
            ["shape", "glcm", "colour"],
            "svm",
            "Otsu nucleus (on B - G, not the paper's colour space); shape + GLCM texture + colour "
            "moments; RBF SVM. The paper's GA feature selection is not done.",
            slides=True,
        ),
        Recipe(
            "vogado2017",
            "Vogado 2017",
            "ALL-IDB1",
            "100.00",
            100.00,
            "deep_features",
            "ensemble",
            backbone="vgg16",
            size=64,
            approximation="VGG16 pooled features, RANDOM init (no ImageNet weights offline), 64 px; soft-voting "
            "ensemble of SVM, RF, MLP (the paper: CaffeNet/VGG-f/VGG16 ImageNet features, gain-ratio "
            "selection, SVM/MLP/RF ensemble).",
            slides=True,
        ),
        _c(
            "negm2018",
            "Negm 2018",
            "ALL-IDB",
            "99.52",
            99.52,
            "kmeans",
            ["colour", "shape"],
            "dt",
            "k-means (k=3) nucleus; colour statistics + size/shape; CART decision tree. The paper's "
            "panel-selection preprocessing is not reproduced.",
        ),
        _c(
            "kumar2018",
            "Kumar 2018 (KNN)",
            "- (not stated)",
            "92.80",
            92.80,
            "kmeans",
            ["firstorder", "shape"],
            "knn",
            "k-means nucleus; first-order statistics + geometric features; k-NN (k=5). The paper's own "
            "data set is not public: run on ALL-IDB2.",
        ),
        _c(
            "kumar2018_nb",
            "Kumar 2018 (naive Bayes)",
            "- (not stated)",
            "92.80",
            92.80,
            "kmeans",
            ["firstorder", "shape"],
            "nb",
            "As kumar2018 with Gaussian naive Bayes.",
        ),
        _c(
            "mishra2018",
            "Mishra 2018",
            "ALL-IDB1",
            "96.90",
            96.90,
            "watershed",
            ["glrlm"],
            "svm",
            "Watershed nucleus; GLRLM run-length features (own implementation, 11 features, 16 "
            "levels, 4 directions); RBF SVM.",
            slides=True,
        ),
        _c(
            "moshavash2018",
            "Moshavash 2018",
            "ALL-IDB",
            "89.81",
            89.81,
            "watershed",
            ["lbp"],
            "ensemble",
            "Watershed nucleus; uniform LBP histogram; soft-voting ensemble (SVM, RF, MLP; the paper "
            "combined its own classifier set).",
        ),
        _c(
            "acharya2019",
            "Acharya 2019",
            "ALL-IDB",
            "98.60",
            98.60,
            "kmedoids",
            ["glcm", "glrlm"],
            "mlp",
            "k-medoids (k=3, small implementation) nucleus; GLCM + GLRLM texture; one-hidden-layer ANN.",
        ),
        _c(
            "jha2019",
            "Jha 2019",
            "ALL-IDB",
            "95.10",
            95.10,
            "fcm",
            ["firstorder", "ldp"],
            "dnn",
            "Fuzzy c-means (scikit-fuzzy) nucleus; first-order statistics + LDP histogram; the paper's "
            "chronological-SCA-trained deep CNN on these features is replaced by a 3-hidden-layer MLP.",
        ),
        Recipe(
            "shahin2019",
            "Shahin 2019 / Das 2021",
            "ALL-IDB(2)",
            "96.10 / 96.84",
            96.10,
            "deep_features",
            "svm",
            backbone="alexnet",
            size=64,
            approximation="AlexNet pooled features, RANDOM init (offline, no transfer), 64 px; RBF SVM. "
            "Stands for both Shahin 2019 (WBCsNet / transfer-learned CNN features) and Das 2021.",
        ),
        _c(
            "das2020",
            "Das 2020",
            "ALL-IDB1",
            "96.00",
            96.00,
            "kmeans",
            ["colour", "shape"],
            "svm",
            "k-means nucleus; colour + shape features; RBF SVM.",
            slides=True,
        ),
        Recipe(
            "genovese2021",
            "Genovese 2021",
            "ALL-IDB2",
            "96.15",
            96.15,
            "deep",
            backbone="vgg16",
            size=32,
            epochs=6,
            approximation="VGG16-BN trained FROM SCRATCH (no ImageNet weights offline) at 32 px for "
            "6 epochs with the zoo's augmentation; the paper fine-tuned ImageNet VGG16 on sharpened crops.",
        ),
        Recipe(
            "das2022",
            "Das 2022 (SVM)",
            "ALL-IDB2",
            "99.40",
            99.40,
            "deep_features",
            "svm",
            backbone="mobilenet_v2",
            size=64,
            approximation="MobileNetV2 pooled features, RANDOM init (offline), 64 px; RBF SVM.",
        ),
        Recipe(
            "das2022_rf",
            "Das 2022 (RF)",
            "ALL-IDB2",
            "98.21",
            98.21,
            "deep_features",
            "rf",
            backbone="mobilenet_v2",
            size=64,
            approximation="As das2022 with a random forest.",
        ),
    ]
}

SEED_ORDER = tuple(RECIPES)


def build_recipe(
    name: str,
    *,
    num_classes: int = 2,
    pretrained: bool = False,
    class_names: Sequence[str] | None = None,
    imgsz: int | None = None,
    steps: Sequence[str] = (),
    seed: int = 0,
    preprocess: PreprocessCfg | None = None,
    **kw: Any,
) -> Any:
    """Untrained classifier of recipe ``name`` (zoo interface: fit / predict_proba / save)."""
    r = RECIPES[name]
    names = tuple(class_names) if class_names is not None else tuple(f"class{i}" for i in range(num_classes))
    if r.kind == "deep":
        return _torch_builder(r.backbone)(
            num_classes=num_classes,
            pretrained=pretrained,
            class_names=names,
            imgsz=imgsz or r.size,
            preprocess=preprocess,
            steps=steps,
        )
    ext = r.extractor(seed=seed, pretrained=pretrained, steps=steps, imgsz=imgsz)
    if preprocess is not None:
        ext.preprocess = preprocess
    return SklearnClassifier(name, ext, r.estimator(seed), names)
