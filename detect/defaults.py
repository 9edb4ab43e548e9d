"""Measured defaults shared by every detector caller (predict, the evaluator, the pipeline)."""

from __future__ import annotations

from leukoscan.schema import DETECT_CONF  # one home: the core (the training verdict uses it too)

# Default NMS IoU. On ALL-IDB1 dev-val 0.6 kept more touching leukocytes than 0.5 (blast
# centroid recall 0.968 vs 0.914 at conf 0.05, 8-epoch weights; benchmarks/README.md).
NMS_IOU = 0.6

__all__ = ["DETECT_CONF", "NMS_IOU"]
