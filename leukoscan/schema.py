"""The seam between the stages: what a detector returns and what a classifier takes.

The only object that crosses from detection to classification is a
``supervision.Detections``: ``xyxy`` float32 ``(N, 4)`` in pixels of the original image,
``confidence`` float32 ``(N,)``, ``class_id`` int ``(N,)``, and per-box columns in
``data`` under the keys named here (after supervision's ``CLASS_NAME_DATA_FIELD``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    import supervision as sv

#: Detector class of each box, object array of str (set by every detector backend).
CLASS_NAME = "class_name"
#: Pipeline call of each cell: the classifier's blast class or :data:`NORMAL`, object array.
CELL_CLASS = "cell_class"
#: Blast probability of each cell, float32 in [0, 1].
BLAST_PROB = "blast_prob"
#: The cell class of a leukocyte not called a blast.
NORMAL = "normal"

#: The cell class when nothing could call blasts (a detector without a blast class, no classifier).
LEUKOCYTE = "leukocyte"
#: Detector evidence per cell after one-box-per-cell grouping (leukoscan.pipeline.infer.seam), float32:
#: best blast-class score and best other-leukocyte-class score among the cell's boxes (0: none).
DET_BLAST = "det_blast"
DET_LEUK = "det_leukocyte"
#: The classifier's own P(blast) per cell, float32 (NaN without a classifier).
CLF_BLAST = "clf_blast"
#: How each cell's call was made, a key of :data:`CALL_METHODS` (object array).
CALL_BY = "call_by"
#: Default P(blast) (fusion: blast share) at or above which a cell is called a blast: the one home
#: of this setting (``PipelineConfig.blast_threshold`` and the outputs' defaults read it).
BLAST_THRESHOLD = 0.5
# Default detector score threshold at inference (``leukoscan infer --conf``) and of the training
# verdict; a trained pipeline (train-all-pipeline) chooses its own, lower one by cross-validation.
DETECT_CONF = 0.25
#: The ways a blast call can be made, with the words the outputs use for them.
CALL_METHODS = {
    "fusion": "fusion model over the stage scores",
    "classifier": "classifier",
    "detector": "the detector's own blast class (no classifier)",
    "count": "none (detector has no blast class, no classifier): leukocyte count only",
}

#: Cell type of each cell (the differential), object array of str: the blast class for a cell
#: called a blast, else the type classifier's class (``neutrophil``, ``lymphocyte``, ...,
#: ``erythroblast``), or :data:`NOT_TYPED` for a non-cell or when no type classifier ran.
CELL_TYPE = "cell_type"
#: Confidence of the type, float32 in [0, 1] (the type classifier's probability of that type;
#: for a blast, P(blast)); NaN when not typed.
TYPE_CONF = "type_conf"
#: The cell type of a detection not typed (a non-cell, or no type classifier).
NOT_TYPED = ""
#: Type-classifier classes that mean "not a white cell": such detections are not typed and
#: not counted in the differential.
NON_CELL_TYPES = ("platelet", "none", "artifact")
#: Nucleated red cells: typed and listed, but not counted among the leukocytes (reported per
#: 100 leukocytes, as in a manual differential).
NRBC_TYPES = ("erythroblast",)

DATA_KEYS = (CLASS_NAME, CELL_CLASS, BLAST_PROB, DET_BLAST, DET_LEUK, CLF_BLAST, CALL_BY, CELL_TYPE, TYPE_CONF)


class Preprocess(Protocol):
    """What a classifier declares about its input: square ``input_size`` px RGB crops."""

    input_size: int


@runtime_checkable
class Detector(Protocol):
    """Stage 1. RGB uint8 ``(H, W, 3)`` image -> detections with ``data[CLASS_NAME]``."""

    @property
    def class_names(self) -> list[str]: ...

    def predict(
        self, image: np.ndarray, *, conf: float = ..., iou: float = ..., tile: int | None = None
    ) -> sv.Detections: ...

    def to(self, device: str) -> Detector: ...


@runtime_checkable
class Classifier(Protocol):
    """Stage 2. RGB uint8 crops of any size -> class probabilities ``(N, C)``."""

    name: str
    class_names: tuple[str, ...]
    preprocess: Preprocess

    def predict_proba(self, crops: Sequence[np.ndarray]) -> np.ndarray: ...

    def to(self, device: str) -> Classifier: ...
