"""Measured defaults shared by every detector caller (predict, the evaluator, the pipeline)."""

from __future__ import annotations

# Default NMS IoU. On ALL-IDB1 dev-val 0.6 kept more touching leukocytes than 0.5 (blast
# centroid recall 0.968 vs 0.914 at conf 0.05, 8-epoch weights; benchmarks/README.md).
NMS_IOU = 0.6
# Default detector score threshold at inference (``leukoscan infer --conf``); a trained
# pipeline (train-all-pipeline) chooses its own, lower one by cross-validation.
DETECT_CONF = 0.25
