"""Validate the architecture description (ultralytics' model ``yaml`` dict) read from a checkpoint.

ultralytics builds a network from this dict with ``parse_model``, which ``eval``s the
``activation`` string and resolves each layer name in its own module namespace (so a
"layer" named ``torch_safe_load`` is a nested pickle loader). A checkpoint is data from
somewhere else, so before LeukoScan builds anything from it, :func:`check_architecture`
requires: known top-level keys of the right types, layer names from :data:`LAYERS` (detection
layers, no loaders, no ``TorchVision`` wrapper that fetches models by name), layer arguments
that are numbers, booleans, ``None`` or one of :data:`ARG_WORDS`, and an activation of the
exact shape ``nn.<one of ACTIVATIONS>()`` (optionally one number inside). Anything else is an
:class:`~leukoscan.trust.UntrustedModelError` (``--trust-model`` loads it with ultralytics' own loader).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from leukoscan.trust import TRUST_HINT, UntrustedModelError

#: Layer names a detection architecture may use (ultralytics' detection yamls v3-v12).
LAYERS = frozenset(
    {
        "Conv",
        "DWConv",
        "GhostConv",
        "Concat",
        "Bottleneck",
        "C2",
        "C2f",
        "C3",
        "C3Ghost",
        "C3k2",
        "C2PSA",
        "PSA",
        "SPP",
        "SPPF",
        "SPPELAN",
        "ADown",
        "AConv",
        "ELAN1",
        "RepNCSPELAN4",
        "SCDown",
        "C2fCIB",
        "A2C2f",
        "RepC3",
        "Detect",
        "v10Detect",
        "nn.Upsample",
        "nn.Identity",
        "nn.MaxPool2d",
        "nn.ZeroPad2d",
    }
)
#: Strings a layer argument may be (ultralytics reads them as None / a mode / the class count).
ARG_WORDS = frozenset({"None", "nearest", "nc"})
ACTIVATIONS = ("SiLU", "ReLU", "ReLU6", "LeakyReLU", "Hardswish", "GELU", "Mish", "Identity", "Sigmoid")
_ACT = re.compile(r"^(torch\.)?nn\.(" + "|".join(ACTIVATIONS) + r")\(\s*(\d+(\.\d+)?)?\s*\)$")
#: Top-level keys -> the check of their value.
_NUM = (int, float)


def _is_num(v: Any) -> bool:
    return isinstance(v, _NUM) and not isinstance(v, bool) and math.isfinite(v)


def _ints(v: Any) -> bool:
    return (
        isinstance(v, int)
        and not isinstance(v, bool)
        or (isinstance(v, list) and bool(v) and all(isinstance(x, int) and not isinstance(x, bool) for x in v))
    )


_KEYS = {
    "nc": lambda v: isinstance(v, int) and not isinstance(v, bool) and 0 < v <= 10_000,
    "scales": lambda v: (
        isinstance(v, dict)
        and all(
            isinstance(k, str) and isinstance(x, list) and len(x) == 3 and all(_is_num(y) for y in x)
            for k, x in v.items()
        )
    ),
    "scale": lambda v: isinstance(v, str) and re.fullmatch(r"[a-z]{0,2}", v) is not None,
    "depth_multiple": _is_num,
    "width_multiple": _is_num,
    "max_channels": _is_num,
    "yaml_file": lambda v: isinstance(v, str) and len(v) < 300 and re.fullmatch(r"[\w./ -]*", v) is not None,
    "ch": lambda v: v in (1, 3),
    "channels": lambda v: v in (1, 3),
    "end2end": lambda v: isinstance(v, bool),
    "reg_max": lambda v: isinstance(v, int) and 0 < v <= 64,
    "activation": lambda v: isinstance(v, str) and _ACT.match(v.strip()) is not None,
    "backbone": lambda v: isinstance(v, list),
    "head": lambda v: isinstance(v, list),
}


def _arg_ok(a: Any, depth: int = 0) -> bool:
    if a is None or isinstance(a, bool) or _is_num(a):
        return True
    if isinstance(a, str):
        return a in ARG_WORDS
    if isinstance(a, list) and depth < 2:
        return all(_arg_ok(x, depth + 1) for x in a)
    return False


def _refuse(path: Path, why: str) -> UntrustedModelError:
    return UntrustedModelError(
        f"{path}: the network description in this checkpoint is not one LeukoScan "
        f"builds ({why}); not loaded ({TRUST_HINT})"
    )


def check_architecture(cfg: Any, path: Path) -> dict[str, Any]:
    """The validated ``yaml`` dict (a copy), or UntrustedModelError naming the first problem."""
    if not isinstance(cfg, dict) or "backbone" not in cfg or "head" not in cfg:
        raise _refuse(path, "no backbone/head description")
    for key, value in cfg.items():
        check = _KEYS.get(key) if isinstance(key, str) else None
        if check is None:
            raise _refuse(path, f"unknown key {str(key)[:40]!r}")
        if not check(value):
            raise _refuse(path, f"{key} = {str(value)[:60]!r}")
    layers = cfg["backbone"] + cfg["head"]
    if not layers or len(layers) > 500:
        raise _refuse(path, f"{len(layers)} layers")
    for i, layer in enumerate(layers):
        if not (isinstance(layer, list) and len(layer) == 4):
            raise _refuse(path, f"layer {i} is not [from, repeats, module, args]")
        frm, n, module, args = layer
        if not _ints(frm) or not (isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= 100):
            raise _refuse(path, f"layer {i} from/repeats {str(frm)[:30]}/{str(n)[:30]}")
        if not isinstance(module, str) or module not in LAYERS:
            raise _refuse(path, f"layer {i} module {str(module)[:60]!r} is not an allowed layer")
        if not isinstance(args, list) or len(args) > 12 or not all(_arg_ok(a) for a in args):
            raise _refuse(path, f"layer {i} ({module}) arguments {str(args)[:60]}")
    return {**cfg, "backbone": [list(x) for x in cfg["backbone"]], "head": [list(x) for x in cfg["head"]]}


__all__ = ["ACTIVATIONS", "ARG_WORDS", "LAYERS", "check_architecture"]
