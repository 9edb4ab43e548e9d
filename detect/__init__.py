"""Detection stage: leukocyte detectors behind one interface.

``build(name, *, num_classes, class_names, pretrained, imgsz)`` -> a :class:`BaseDetector`
(the :class:`leukoscan.schema.Detector` contract): ``.fit(FitArgs)``, ``.predict(image_rgb, *, conf, iou, tile)`` ->
``supervision.Detections`` (``xyxy`` float32 original-image pixels, ``class_id``,
``confidence``, ``data[CLASS_NAME]`` (:mod:`leukoscan.schema`)), ``.save(path)``; ``load(path_or_run_dir)``.
Training entry point with run folders: :func:`leukoscan.detect.train.train`. One COCO evaluator
for every backend: :mod:`leukoscan.detect.evaluate`. Installed as
``leukoscan.detect``; never imports ``leukoscan.classify``.
"""

from __future__ import annotations

from leukoscan.detect import backends  # noqa: F401  (registers every backend)
from leukoscan.detect.base import BaseDetector, DetectorMeta, FitArgs
from leukoscan.detect.registry import DETECTORS, build, load

__all__ = ["DETECTORS", "BaseDetector", "DetectorMeta", "FitArgs", "build", "load"]
