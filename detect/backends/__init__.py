"""Detector backends. Each file converts its framework's outputs to ``sv.Detections`` and
registers its names in :data:`leukoscan.detect.registry.DETECTORS` (builder, loader, kind).

``yolo.py`` is the only module in the project that imports ultralytics (lazily).
"""

from leukoscan.detect.backends import frcnn, yolo  # noqa: F401  (register the backends)
