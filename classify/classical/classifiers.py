"""scikit-learn classifiers of the classical pipelines, by name.

Each builder returns an unfitted estimator with ``predict_proba``; every one except naive
Bayes standardises features first (``StandardScaler`` in a pipeline). Trees too: scikit-learn
trees never split a feature whose range is below 1e-7, and random-init MobileNetV2 features
are ~1e-10 (without the scaler ``das2022_rf`` predicted one class for every crop; measured in
the first seed run).
Hyperparameters are fixed, small-data defaults (the papers rarely report theirs):

- ``svm``: RBF SVC, balanced class weights, C chosen from {1, 10, 100} by inner 3-fold
  grid search on balanced accuracy, Platt (sigmoid) probabilities from 3-fold
  ``CalibratedClassifierCV``; needs about 6 items of each class in a training set. Only
  scikit-learn classes, so a fitted model saves as ``model.skops`` and loads without trust.
- ``rf``: random forest, 300 trees, balanced class weights.
- ``dt``: decision tree (CART, Gini), balanced class weights, min 2 samples per leaf.
- ``knn``: k-nearest neighbours, k=5, distance-weighted.
- ``nb``: Gaussian naive Bayes.
- ``mlp``: one hidden layer of 64 ReLU units ("ANN"), Adam, L2 1e-3, up to 2000 iterations.
- ``ensemble``: soft voting (mean probability) of ``svm``, ``rf`` and ``mlp``.
- ``dnn`` (recipe use only): a deeper MLP (128-64-32), standing in for papers' "deep
  CNN on features".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from leukoscan.errors import ConfigError


def _scaled(est: Any) -> Any:
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), est)


def _svc(seed: int) -> Any:
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.model_selection import GridSearchCV
    from sklearn.svm import SVC

    svc = SVC(kernel="rbf", class_weight="balanced", random_state=seed)
    grid = GridSearchCV(svc, {"C": [1.0, 10.0, 100.0]}, cv=3, scoring="balanced_accuracy")
    return CalibratedClassifierCV(grid, method="sigmoid", cv=3, ensemble=False)


def svm(seed: int = 0) -> Any:
    return _scaled(_svc(seed))


def rf(seed: int = 0) -> Any:
    from sklearn.ensemble import RandomForestClassifier

    return _scaled(RandomForestClassifier(n_estimators=300, class_weight="balanced", random_state=seed, n_jobs=1))


def dt(seed: int = 0) -> Any:
    from sklearn.tree import DecisionTreeClassifier

    return _scaled(DecisionTreeClassifier(class_weight="balanced", min_samples_leaf=2, random_state=seed))


def knn(seed: int = 0) -> Any:
    from sklearn.neighbors import KNeighborsClassifier

    return _scaled(KNeighborsClassifier(n_neighbors=5, weights="distance"))


def nb(seed: int = 0) -> Any:
    from sklearn.naive_bayes import GaussianNB

    return GaussianNB()


def _mlp(hidden: tuple[int, ...], seed: int) -> Any:
    from sklearn.neural_network import MLPClassifier

    return MLPClassifier(hidden_layer_sizes=hidden, alpha=1e-3, max_iter=2000, random_state=seed)


def mlp(seed: int = 0) -> Any:
    return _scaled(_mlp((64,), seed))


def dnn(seed: int = 0) -> Any:
    return _scaled(_mlp((128, 64, 32), seed))


def ensemble(seed: int = 0) -> Any:
    from sklearn.ensemble import VotingClassifier

    members = [("svm", svm(seed)), ("rf", rf(seed)), ("mlp", mlp(seed))]
    return VotingClassifier(members, voting="soft")


ESTIMATORS: dict[str, Callable[[int], Any]] = {
    "svm": svm,
    "rf": rf,
    "dt": dt,
    "knn": knn,
    "nb": nb,
    "mlp": mlp,
    "ensemble": ensemble,
}
EXTRA_ESTIMATORS: dict[str, Callable[[int], Any]] = {"dnn": dnn}


def build_estimator(name: str, seed: int = 0) -> Any:
    """Unfitted estimator ``name`` (see :data:`ESTIMATORS`; ``dnn`` is recipe-only)."""
    table = {**ESTIMATORS, **EXTRA_ESTIMATORS}
    if name not in table:
        raise ConfigError(f"Unknown classical classifier {name!r}. Valid: {', '.join(table)}")
    return table[name](seed)
