"""Pretrained-weight downloads for the detectors: explicit, loud, never silent.

Whether to try the network at all is :func:`leukoscan.offline.offline` (one helper for the
whole project); this module only words the warning when weights cannot be had, and resolves
``pretrained: auto`` (the default detector recipe's start).
"""

from __future__ import annotations

import sys

from leukoscan.bundled import bundled_names

#: The bundled open-data detector of a YOLO architecture (``pretrained=blood`` names it too).
BLOOD_DETECTOR = "blood_fields_{model}"


def resolve_auto(pretrained: bool | str, model: str) -> bool | str:
    """``"auto"``: LeukoScan's bundled blood detector of ``model`` when the package holds one
    (``"blood"``), else ``True`` (COCO weights: downloaded when online, one loud warning and
    scratch offline). Any other value is returned as it is. The choice is printed."""
    if str(pretrained).lower() != "auto":
        return pretrained
    name = BLOOD_DETECTOR.format(model=model)
    if name in bundled_names("detector"):
        print(f"pretrained=auto: starting from LeukoScan's bundled blood detector {name}", flush=True)
        return "blood"
    print(f"pretrained=auto: no bundled blood detector for {model}; COCO weights (downloaded when online)", flush=True)
    return True


def warn_scratch(model: str, reason: str) -> None:
    """The one loud warning printed when pretrained weights cannot be had."""
    bar = "!" * 78
    print(
        f"\n{bar}\nWARNING: pretrained weights for {model} unavailable ({reason}); "
        f"training from scratch — pass --scratch to silence\n{bar}\n",
        file=sys.stderr,
        flush=True,
    )
