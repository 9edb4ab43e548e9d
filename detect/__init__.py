"""Detection stage: leukocyte detectors behind one interface.

``build(name, *, num_classes, class_names, pretrained, imgsz)`` -> :class:`Detector`;
``Detector.train(FitArgs)``, ``.predict(image_rgb, *, conf, iou, tile)`` ->
``supervision.Detections`` (``xyxy`` float32 original-image pixels, ``class_id``,
``confidence``, ``data["class_name"]``), ``.save(path)``; ``load(path_or_run_dir)``.
Training entry point with run folders: :func:`detect.train.train`. One COCO evaluator
for every backend: :mod:`detect.evaluate`. ``detect`` never imports ``classify``.
"""

from __future__ import annotations

from detect.base import Detector, DetectorMeta, FitArgs
from detect.registry import DETECTORS, build, load

__all__ = ["DETECTORS", "Detector", "DetectorMeta", "FitArgs", "build", "load"]
