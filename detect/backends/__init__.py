"""Detector backends. Each file converts its framework's outputs to ``sv.Detections``.

``yolo.py`` is the only module in the project that imports ultralytics.
"""
