"""Loading model files without running code from them (unless the user says they trust it).

Model files travel between labs; a pickle runs whatever code it names when it is loaded.
So every model file is read through here:

- :func:`torch_load`: ``torch.load(weights_only=True)``. A checkpoint that holds Python
  objects (ultralytics checkpoints hold the whole network) loads when every global it names
  is a network layer class (a ``torch.nn.Module`` subclass) from an allowlisted package
  (:data:`TRUSTED_PREFIXES`) or one of :data:`TRUSTED_CALLABLES` (numpy scalars, sets,
  paths); they are resolved by name and given to torch's restricted unpickler. No other
  callable can be reached, so a ``__reduce__`` payload such as ``os.system`` is refused
  without running. (ultralytics then reads the checked file again with its own loader.) Anything else raises
  :class:`UntrustedModelError` naming what it would import, unless ``trust=True``.
- :func:`skops_load`: scikit-learn models saved with ``skops`` (no pickle); types outside
  scikit-learn/numpy/scipy are refused unless ``trust=True``.
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
TRUSTED_PREFIXES = ("torch.nn.modules.", "ultralytics.nn.modules.", "ultralytics.nn.tasks.",
                    "torchvision.ops.misc.")
#: Callables (not classes) a checkpoint may name: numpy's scalar/array rebuilders, dtype.
TRUSTED_CALLABLES = frozenset({
    "numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar",
    "numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct",
    "numpy.dtype", "numpy.ndarray", "builtins.set", "builtins.frozenset", "pathlib.PosixPath",
    "pathlib.WindowsPath", "ultralytics.utils.IterableSimpleNamespace", "types.SimpleNamespace",
    "collections.OrderedDict", "collections.defaultdict",
})
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


def allowed_globals(names: list[str]) -> tuple[list[Any], list[str]]:
    """Split global names into (resolved objects we allow, names we refuse)."""
    import torch

    ok, refused = [], []
    for name in names:
        numpy_dtype = name.startswith("numpy.dtypes.") and name.endswith("DType")
        if name in TRUSTED_CALLABLES or numpy_dtype or name.startswith(TRUSTED_PREFIXES):
            try:
                obj = _resolve(name)
            except (ImportError, AttributeError):
                refused.append(name)
                continue
            layer = isinstance(obj, type) and issubclass(obj, torch.nn.Module)
            if name in TRUSTED_CALLABLES or (numpy_dtype and isinstance(obj, type)) or layer:
                ok.append(obj)
                continue
        refused.append(name)
    return ok, refused


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:200]


def torch_load(path: str | Path, *, trust: bool = False, what: str = "model file") -> Any:
    """``torch.load`` that runs no code from the file unless ``trust`` (see module docstring)."""
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
    ok, refused = allowed_globals(names)
    if refused:
        shown = ", ".join(refused[:3]) + (f" (+{len(refused) - 3} more)" if len(refused) > 3 else "")
        raise UntrustedModelError(f"{path}: this {what} would import {shown} when loaded, which can run "
                                  f"code; not loaded ({TRUST_HINT})")
    try:
        with torch.serialization.safe_globals(ok):
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise UntrustedModelError(f"{path}: this {what} cannot be loaded without running code from it "
                                  f"({_first_line(e)}); {TRUST_HINT}") from e


def skops_load(path: str | Path, *, trust: bool = False, what: str = "classifier") -> Any:
    """A ``skops`` file; types outside scikit-learn, numpy and scipy need ``trust``."""
    import skops.io as sio

    path = Path(path)
    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as e:  # a corrupt or foreign file
        raise BadInputError(f"{path}: not a readable {what} ({_first_line(e)})") from e
    bad = [t for t in untrusted if not t.startswith(("sklearn.", "numpy.", "scipy."))]
    if bad and not trust:
        raise UntrustedModelError(f"{path}: this {what} holds types outside scikit-learn/numpy "
                                  f"({', '.join(bad[:3])}); not loaded ({TRUST_HINT})")
    try:
        return sio.load(path, trusted=untrusted)
    except Exception as e:
        raise BadInputError(f"{path}: not a readable {what} ({_first_line(e)})") from e


def pickle_load(path: str | Path, *, trust: bool = False, unpickler: type[pickle.Unpickler] = pickle.Unpickler,
                what: str = "classifier") -> Any:
    """A plain pickle: loaded only with ``trust`` (a pickle can run any code when loaded)."""
    path = Path(path)
    if not trust:
        raise UntrustedModelError(f"{path}: a pickle file, which can run any code when loaded; not loaded "
                                  f"({TRUST_HINT}, or retrain to get the safe model.skops format)")
    try:
        with open(path, "rb") as f:
            return unpickler(f).load()
    except Exception as e:
        raise BadInputError(f"{path}: not a readable {what} ({_first_line(e)})") from e


__all__ = ["TRUSTED_PREFIXES", "UntrustedModelError", "allowed_globals", "pickle_load", "skops_load",
           "torch_load"]
