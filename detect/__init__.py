"""Detection stage: leukocyte detectors behind one interface.

Every backend returns ``supervision.Detections`` in original-image pixels (``xyxy``).
``detect`` never imports ``classify``.
"""

from __future__ import annotations
