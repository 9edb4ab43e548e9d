"""Pretrained-weight downloads for the detectors: explicit, loud, never silent.

Whether to try the network at all is :func:`leukoscan.offline.offline` (one helper for the
whole project); this module only words the warning when weights cannot be had.
"""

from __future__ import annotations

import sys


def warn_scratch(model: str, reason: str) -> None:
    """The one loud warning printed when pretrained weights cannot be had."""
    bar = "!" * 78
    print(
        f"\n{bar}\nWARNING: pretrained weights for {model} unavailable ({reason}); "
        f"training from scratch — pass --scratch to silence\n{bar}\n",
        file=sys.stderr,
        flush=True,
    )
