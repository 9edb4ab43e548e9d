"""Loading model files without running code from them (unless the user says they trust it).

Model files travel between labs; a pickle runs whatever code it names when it is loaded.
So every model file is read through here:

- :func:`torch_load`: ``torch.load(weights_only=True)``: tensors and plain containers, plus
  the data rebuilders of :data:`TRUSTED_CALLABLES` (numpy scalars, sets, paths). With
  ``layers=True`` (ultralytics checkpoints hold the whole network as pickled layer objects)
  a network layer class (``torch.nn.Module`` subclass) from an allowlisted package
  (:data:`TRUSTED_PREFIXES`) is read as an inert :class:`LayerRecord` (its class name and
  saved attributes): the class itself is never imported into the unpickler, so no
  constructor runs; a file that *calls* a layer class (a pickle ``REDUCE`` with arguments
  the file chose, the "constructor gadget") is refused. The backend then rebuilds the
  network from a validated architecture description and loads the tensors into it
  (:func:`leukoscan.detect.backends.yolo.rebuild_ultralytics`). Anything else raises
  :class:`UntrustedModelError` naming what it would import, unless ``trust=True``.
- :func:`skops_load`: scikit-learn models saved with ``skops`` (no pickle); only the types
  of :data:`SKOPS_TYPES` (exact names: the estimators LeukoScan saves and their parts) load
  without ``trust=True``.
- :func:`pickle_load`: plain pickles (``model.pkl`` of older runs) only with ``trust=True``.

``trust=True`` is the ``--trust-model`` flag of the tools.
"""

from __future__ import annotations

import importlib
import pickle
from pathlib import Path
from typing import Any

from leukoscan.errors import BadInputError

#: Packages whose network layer classes (``torch.nn.Module`` subclasses) a checkpoint may
#: name. Not ``ultralytics.nn.autobackend``: its constructor loads further files.
TRUSTED_PREFIXES = ("torch.nn.modules.", "ultralytics.nn.modules.", "ultralytics.nn.tasks.", "torchvision.ops.misc.")
#: Callables (not classes) a checkpoint may name: numpy's scalar/array rebuilders, dtype.
TRUSTED_CALLABLES = frozenset(
    {
        "numpy.core.multiarray.scalar",
        "numpy._core.multiarray.scalar",
        "numpy.core.multiarray._reconstruct",
        "numpy._core.multiarray._reconstruct",
        "numpy.dtype",
        "numpy.ndarray",
        "builtins.set",
        "builtins.frozenset",
        "pathlib.PosixPath",
        "pathlib.WindowsPath",
        "ultralytics.utils.IterableSimpleNamespace",
        "types.SimpleNamespace",
        "collections.OrderedDict",
        "collections.defaultdict",
    }
)
#: Types a ``model.skops`` may hold beyond skops' own default-trusted set (builtins, numpy arrays,
#: common scikit-learn estimators), by exact name: the parts of the estimators LeukoScan saves
#: (``classify.classical.classifiers.ESTIMATORS``, ``classify.models._estimator``; listed by
#: ``tests/test_safety_gadgets.py::test_own_estimators_need_only_listed_skops_types``).
SKOPS_TYPES = frozenset(
    {
        "sklearn.calibration._CalibratedClassifier",
        "sklearn.calibration._SigmoidCalibration",
        "sklearn.metrics._classification.balanced_accuracy_score",
        "sklearn.metrics._scorer._Scorer",
        "sklearn.metrics._dist_metrics.EuclideanDistance64",
        "sklearn.model_selection._split.StratifiedKFold",
        "sklearn.neighbors._kd_tree.KDTree",
        "sklearn.neighbors._ball_tree.BallTree",
        "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
        "sklearn.tree._tree.Tree",
        "sklearn.utils._bunch.Bunch",
    }
)
TRUST_HINT = "pass --trust-model only if you trust where the file came from"


class UntrustedModelError(BadInputError):
    """A model file that could run code when loaded, and the user has not said they trust it."""


def _resolve(dotted: str) -> Any:
    """``"pkg.mod.Class"`` -> the object (longest importable module prefix, then attributes)."""
    parts = dotted.split(".")
    for i in range(len(parts) - 1, 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(dotted)


def allowed_globals(names: list[str], *, layers: bool = False) -> tuple[list[Any], list[str]]:
    """Split global names into (objects we allow, names we refuse).

    Allowed: :data:`TRUSTED_CALLABLES` and numpy dtype classes (data rebuilders), and with
    ``layers`` the layer classes under :data:`TRUSTED_PREFIXES`, as ``(LayerRecord subclass,
    name)`` pairs: the unpickler gets an inert record class under the layer's name."""
    import torch

    ok: list[Any] = []
    refused: list[str] = []
    for name in names:
        numpy_dtype = name.startswith("numpy.dtypes.") and name.endswith("DType")
        layer_name = layers and name.startswith(TRUSTED_PREFIXES)
        if name in TRUSTED_CALLABLES or numpy_dtype or layer_name:
            try:
                obj = _resolve(name)
            except (ImportError, AttributeError):
                refused.append(name)
                continue
            if layer_name and isinstance(obj, type) and issubclass(obj, torch.nn.Module):
                ok.append((_record_class(name), name))
                continue
            if name in TRUSTED_CALLABLES or (numpy_dtype and isinstance(obj, type)):
                ok.append(obj)
                continue
        refused.append(name)
    return ok, refused


class LayerRecord:
    """A network layer read from a checkpoint as data: ``qualname`` (its class) and ``state``
    (its saved attributes: ``_parameters``, ``_buffers``, ``_modules``, ...). Never constructed:
    ``__new__`` (pickle ``NEWOBJ``) makes an empty record; a call (pickle ``REDUCE``, i.e. the
    class constructor with arguments chosen by the file) raises."""

    qualname = "?"

    def __new__(cls, *args: Any) -> LayerRecord:
        if args:
            raise ConstructorCallError(cls.qualname)
        rec = object.__new__(cls)
        rec.state = {}
        return rec

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # only reached by calling the class
        raise ConstructorCallError(self.qualname)

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2 and state[1] is None:
            state = state[0]
        if not isinstance(state, dict):
            raise ConstructorCallError(f"{self.qualname} (non-dict state)")
        self.state = state

    def __repr__(self) -> str:
        return f"LayerRecord({self.qualname})"

    def children(self) -> dict[str, LayerRecord]:
        return {k: v for k, v in (self.state.get("_modules") or {}).items() if v is not None}

    def state_dict(self, prefix: str = "") -> dict[str, Any]:
        """The tensors as ``nn.Module.state_dict()`` names them (persistent buffers only)."""
        import torch

        out: dict[str, Any] = {}
        skip = self.state.get("_non_persistent_buffers_set") or set()
        for key in ("_parameters", "_buffers"):
            for name, t in (self.state.get(key) or {}).items():
                if isinstance(t, torch.Tensor) and not (key == "_buffers" and name in skip):
                    out[prefix + name] = t
        for name, child in self.children().items():
            if not isinstance(child, LayerRecord):
                raise ConstructorCallError(f"{self.qualname}.{name} is not a layer")
            out.update(child.state_dict(f"{prefix}{name}."))
        return out

    def walk(self) -> list[LayerRecord]:
        """This record and every layer below it."""
        out = [self]
        for child in self.children().values():
            out.extend(child.walk() if isinstance(child, LayerRecord) else [child])
        return out


class ConstructorCallError(Exception):
    """A checkpoint calls a layer class (constructor with arguments the file chose)."""


def _record_class(name: str) -> type[LayerRecord]:
    return type(name.rpartition(".")[2] + "Record", (LayerRecord,), {"qualname": name})


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:200]


def torch_load(path: str | Path, *, trust: bool = False, what: str = "model file", layers: bool = False) -> Any:
    """``torch.load`` that runs no code from the file unless ``trust`` (see module docstring).

    ``layers``: read allowlisted network layer objects as :class:`LayerRecord` (ultralytics
    checkpoints); the caller rebuilds the network from them."""
    import torch

    path = Path(path)
    if trust:
        try:
            return torch.load(path, map_location="cpu", weights_only=False)
        except Exception as e:  # torch raises many types for a file that is not a checkpoint
            raise BadInputError(f"{path}: not a readable {what} ({_first_line(e)})") from e
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        pass  # needs globals beyond tensors and containers: check them below
    except Exception as e:
        raise BadInputError(f"{path}: not a readable {what} ({_first_line(e)})") from e
    try:
        names = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception as e:
        raise BadInputError(f"{path}: not a readable {what} ({_first_line(e)})") from e
    ok, refused = allowed_globals(names, layers=layers)
    if refused:
        shown = ", ".join(refused[:3]) + (f" (+{len(refused) - 3} more)" if len(refused) > 3 else "")
        raise UntrustedModelError(
            f"{path}: this {what} would import {shown} when loaded, which can run code; not loaded ({TRUST_HINT})"
        )
    try:
        with torch.serialization.safe_globals(ok):
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        gadget = e if isinstance(e, ConstructorCallError) else e.__context__ or e.__cause__
        if isinstance(gadget, ConstructorCallError) or "ConstructorCallError" in str(e):
            raise UntrustedModelError(
                f"{path}: this {what} calls a layer class with arguments chosen by the "
                f"file ({_first_line(gadget or e)}), which can run code; not loaded "
                f"({TRUST_HINT})"
            ) from e
        raise UntrustedModelError(
            f"{path}: this {what} cannot be loaded without running code from it ({_first_line(e)}); {TRUST_HINT}"
        ) from e


def skops_load(path: str | Path, *, trust: bool = False, what: str = "classifier") -> Any:
    """A ``skops`` file; types beyond skops' defaults and :data:`SKOPS_TYPES` need ``trust``."""
    import skops.io as sio

    path = Path(path)
    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as e:  # a corrupt or foreign file
        raise BadInputError(f"{path}: not a readable {what} ({_first_line(e)})") from e
    bad = [t for t in untrusted if t not in SKOPS_TYPES]
    if bad and not trust:
        raise UntrustedModelError(
            f"{path}: this {what} holds types LeukoScan does not save ({', '.join(bad[:3])}); not loaded ({TRUST_HINT})"
        )
    try:
        return sio.load(path, trusted=untrusted)
    except Exception as e:
        raise BadInputError(f"{path}: not a readable {what} ({_first_line(e)})") from e


def check_estimator(est: Any, path: str | Path, *, trust: bool = False) -> Any:
    """``est`` if it is a scikit-learn classifier (the kind LeukoScan saves), else UntrustedModelError."""
    from sklearn.base import is_classifier

    kind = f"{type(est).__module__}.{type(est).__qualname__}"
    if not trust and not (kind.startswith("sklearn.") and is_classifier(est) and hasattr(est, "predict_proba")):
        raise UntrustedModelError(
            f"{path}: the estimator is a {kind[:80]}, not a scikit-learn classifier; not loaded ({TRUST_HINT})"
        )
    return est


def pickle_load(
    path: str | Path,
    *,
    trust: bool = False,
    unpickler: type[pickle.Unpickler] = pickle.Unpickler,
    what: str = "classifier",
) -> Any:
    """A plain pickle: loaded only with ``trust`` (a pickle can run any code when loaded)."""
    path = Path(path)
    if not trust:
        raise UntrustedModelError(
            f"{path}: a pickle file, which can run any code when loaded; not loaded "
            f"({TRUST_HINT}, or retrain to get the safe model.skops format)"
        )
    try:
        with open(path, "rb") as f:
            return unpickler(f).load()
    except Exception as e:
        raise BadInputError(f"{path}: not a readable {what} ({_first_line(e)})") from e


__all__ = [
    "SKOPS_TYPES",
    "TRUSTED_PREFIXES",
    "LayerRecord",
    "check_estimator",
    "UntrustedModelError",
    "allowed_globals",
    "pickle_load",
    "skops_load",
    "torch_load",
]
