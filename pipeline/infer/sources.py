"""Where a model came from: :func:`model_source` describes one loaded model file (run
folder, weights file, sha256, whether the user named it); :func:`announce_implicit` says
loudly when a model was picked without being named. :mod:`leukoscan.pipeline.infer.provenance`
puts these into every output.
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from leukoscan.io import sha256_file
from leukoscan.runs import weights_file
from leukoscan.verdict import run_state

#: How a model was chosen: named by the user, or the newest run (implicit).
GIVEN, NEWEST = "given", "newest run (implicit)"
BUNDLED = "bundled with LeukoScan (no trained run)"


@dataclass(frozen=True)
class ModelSource:
    """One model as loaded: ``run`` folder (None for a bare weights file), file, hash."""

    role: str  # "detector" | "classifier"
    name: str  # registry name, e.g. "yolov8n", "handcrafted+svm"
    run: str | None
    weights: str
    sha256: str
    chosen: str = GIVEN
    #: :meth:`leukoscan.verdict.RunState.to_dict` of the run folder (None for a bare weights file)
    run_state: dict[str, Any] | None = None

    @property
    def short(self) -> str:
        """``runs/detect/x (yolov8n, sha256 0123456789ab)`` for one-line displays."""
        return f"{self.run or self.weights} ({self.name}, sha256 {self.sha256[:12]})"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def model_source(role: str, path: str | Path, name: str, *, chosen: str = GIVEN) -> ModelSource:
    """Describe the model loaded from ``path`` (a run folder or a weights file)."""
    p = Path(path)
    wf = weights_file(p)
    run = p if p.is_dir() else _run_of(wf)
    state = None if run is None or role == "fusion" else run_state(run).to_dict()
    return ModelSource(role, name, None if run is None else str(run), str(wf), sha256_file(wf), chosen, state)


def _run_of(weights: Path) -> Path | None:
    for parent in (weights.parent, weights.parent.parent):
        if (parent / "config.yaml").is_file():
            return parent
    return None


def announce_implicit(src: ModelSource, flag: str, skipped: list[str] | tuple[str, ...] = ()) -> None:
    """Say loudly (stderr) that a model was picked without being named (and which unfinished
    newer runs were passed over)."""
    bar = "!" * 78
    if src.chosen == BUNDLED:
        print(
            f"{bar}\n!! no {flag} given and no trained {src.role} run: using the BUNDLED {src.role}\n"
            f"!!   {src.short}\n!! (trained on open data; model card: {Path(src.weights).name[:-3]}.card.json "
            f"beside it)\n{bar}",
            file=sys.stderr,
        )
        return
    passed = "".join(f"!!   passed over, unfinished: {s}\n" for s in skipped)
    print(
        f"{bar}\n!! no {flag} given: using the NEWEST {src.role} run (the newest finished one)\n"
        f"!!   {src.short}\n{passed}"
        f"!! name it with {flag} to be sure which model makes the calls\n{bar}",
        file=sys.stderr,
    )


__all__ = ["BUNDLED", "GIVEN", "NEWEST", "ModelSource", "announce_implicit", "model_source"]
