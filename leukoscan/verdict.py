"""Can a trained model be trusted? A plain verdict from its own val metrics, and its run state.

Training ends with a :class:`Verdict` stored in the run's ``metrics.json`` (key ``verdict``):

- detector: the share of annotated white cells of the val split found (IoU >= 0.5, one
  box per cell) by a box scored at least 0.25 (``infer``'s default ``--conf``), over the
  leukocyte classes (``WBC``, ``leukocyte``, ``blast``; every class when the data have none).
  ``usable`` >= 80%, ``weak`` >= 50%, else ``not usable``.
- classifier: balanced accuracy of its own evaluation (out-of-fold CV or held-out split).
  ``usable`` >= 0.80, ``weak`` >= 0.65 (chance is 0.5), else ``not usable``.

The cut-offs are a plain reading aid, not a validation: a "usable" model can still be
wrong on another microscope. :func:`run_state` reads a run folder back: complete (with its
verdict), still training or interrupted (with ``epoch k/N``), from ``metrics.json``,
``status.json`` (written while a detector trains) and ``metrics.csv``.
"""

from __future__ import annotations

import csv
import json
import os
import socket
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from leukoscan.io import atomic_write_json
from leukoscan.runs import RunDir
from leukoscan.schema import DETECT_CONF

USABLE, WEAK, NOT_USABLE, NOT_JUDGED = "usable", "weak", "not usable", "not judged"
COMPLETE, TRAINING, INTERRUPTED = "complete", "still training", "interrupted"
NO_RECORD = "no training record"  # a folder holding weights but no config.yaml / metrics.json / status.json
#: White-cell classes a detector verdict is measured on (the pipeline's leukocyte classes).
LEUKOCYTE_CLASSES = ("WBC", "leukocyte", "blast")
#: Recall cut-offs (a box counts at the ``infer --conf`` default, schema.DETECT_CONF).
DET_USABLE, DET_WEAK = 0.80, 0.50
CLF_USABLE, CLF_WEAK = 0.80, 0.65
STATUS = "status.json"


@dataclass(frozen=True)
class Verdict:
    """``level`` (usable | weak | not usable) and the sentence a user reads."""

    level: str
    text: str
    measure: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> Verdict | None:
        if not d or "level" not in d:
            return None
        return cls(d["level"], d.get("text", d["level"]), d.get("measure", {}))


def _level(x: float, usable: float, weak: float) -> str:
    return USABLE if x >= usable else WEAK if x >= weak else NOT_USABLE


def detector_verdict(
    found: int, total: int, *, what: str = "white cells", ap50: float | None = None, conf: float = DETECT_CONF
) -> Verdict:
    """Verdict from ``found`` of ``total`` annotated cells hit by a box scored >= ``conf``."""
    measure = {"found": found, "total": total, "conf": conf, "recall": None, "ap50": ap50, "what": what}
    if total == 0:
        return Verdict(NOT_USABLE, f"not usable: the val split has no {what} to judge it by", measure)
    r = found / total
    measure["recall"] = round(r, 4)
    level = _level(r, DET_USABLE, DET_WEAK)
    ap = f", AP50 {ap50:.3f}" if ap50 is not None else ""
    text = f"finds {100 * r:.0f}% of {what} at conf {conf:g} ({found}/{total} on val{ap})"
    return Verdict(level, f"{level}: {text}", measure)


def classifier_verdict(balanced_accuracy: float | None, *, what: str = "val", chance: float = 0.5) -> Verdict:
    """Verdict from the balanced accuracy of the classifier's own evaluation (``what``: which;
    ``chance``: 1 / number of classes)."""
    measure = {"balanced_accuracy": balanced_accuracy, "evaluation": what}
    if balanced_accuracy is None:
        return Verdict(NOT_JUDGED, "not judged: no evaluation to judge it by (no val split, no CV)", measure)
    level = _level(balanced_accuracy, CLF_USABLE, CLF_WEAK)
    return Verdict(level, f"{level}: balanced accuracy {balanced_accuracy:.2f} ({what}; chance {chance:.2f})", measure)


def classifier_verdict_from_metrics(m: dict[str, Any]) -> Verdict:
    """The verdict of a classifier run's ``metrics.json`` (``cv``, else ``val``, else ``test``)."""
    score = m.get("score_split") or "val"
    for key, what in (("cv", "out-of-fold CV"), (score, f"{score} split")):
        if isinstance(m.get(key), dict):
            ba = m[key].get("balanced_accuracy")  # binary report: {"value": ...}; multiclass: a float
            chance = 1 / max(2, len(m.get("class_names") or ()))
            return classifier_verdict(ba.get("value") if isinstance(ba, dict) else ba, what=what, chance=chance)
    return classifier_verdict(None)


# ---- run state -----------------------------------------------------------------------------
@dataclass(frozen=True)
class RunState:
    """Where a run stands: ``state`` (complete | still training | interrupted), epochs, verdict."""

    state: str
    epoch: int | None = None
    epochs: int | None = None
    verdict: Verdict | None = None

    @property
    def finished(self) -> bool:
        return self.state in (COMPLETE, NO_RECORD)

    @property
    def text(self) -> str:
        """``complete; usable: finds 97% ...`` or ``interrupted at epoch 4/10``."""
        if not self.finished:
            at = f" at epoch {self.epoch}/{self.epochs}" if self.epoch is not None else ""
            return f"{self.state}{at}" if self.state == INTERRUPTED else f"{self.state}{at.replace(' at', ',')}"
        if self.state == NO_RECORD:
            return NO_RECORD
        return f"complete; {self.verdict.text}" if self.verdict else "complete; no verdict recorded"

    @property
    def warning(self) -> str | None:
        """A line for banners when the model should not be trusted as is, else None."""
        if not self.finished:
            return f"UNFINISHED RUN ({self.text}): its weights are not the trained model"
        if self.verdict is not None and self.verdict.level == NOT_USABLE:
            return f"MODEL NOT USABLE ({self.verdict.text.removeprefix('not usable: ')})"
        if self.verdict is not None and self.verdict.level in (WEAK, NOT_JUDGED):
            return f"{self.verdict.level} model ({self.verdict.text.split(': ', 1)[-1]})"
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "epoch": self.epoch,
            "epochs": self.epochs,
            "text": self.text,
            "verdict": self.verdict.to_dict() if self.verdict else None,
        }


def write_status(run_dir: str | Path, state: str, **extra: Any) -> None:
    """``status.json`` of a training run: ``state``, this process (pid, host), anything else."""
    atomic_write_json(
        Path(run_dir) / STATUS, {"state": state, "pid": os.getpid(), "host": socket.gethostname(), **extra}
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _epochs(run: Path) -> tuple[int | None, int | None]:
    done = None
    if (run / "metrics.csv").is_file():
        with open(run / "metrics.csv", newline="") as f:
            done = max((int(float(r["epoch"])) for r in csv.DictReader(f) if r.get("epoch")), default=None)
    total = None
    if (run / "config.yaml").is_file():
        import yaml

        try:
            total = (yaml.safe_load((run / "config.yaml").read_text()) or {}).get("epochs")
        except yaml.YAMLError:
            total = None
    return done, total if isinstance(total, int) else None


def run_state(run_dir: str | Path) -> RunState:
    """Read a run folder: complete when ``metrics.json`` exists (verdict from it; a classifier
    run's is computed from its metrics when an older run did not store one); otherwise
    still training when ``status.json`` names a live process on this host, else interrupted."""
    run = Path(run_dir)
    if (run / "metrics.json").is_file():
        m = json.loads((run / "metrics.json").read_text())
        verdict = Verdict.from_dict(m.get("verdict"))
        if verdict is None and any(k in m for k in ("cv", "val", "test", "note")) and "class_names" in m:
            verdict = classifier_verdict_from_metrics(m)
        return RunState(COMPLETE, verdict=verdict)
    if not any((run / f).is_file() for f in ("config.yaml", STATUS, "metrics.csv")):
        return RunState(NO_RECORD)
    epoch, epochs = _epochs(run)
    st = {}
    if (run / STATUS).is_file():
        try:
            st = json.loads((run / STATUS).read_text())
        except json.JSONDecodeError:
            st = {}
    live = (
        st.get("state") == TRAINING
        and st.get("host") == socket.gethostname()
        and isinstance(st.get("pid"), int)
        and _alive(st["pid"])
    )
    return RunState(TRAINING if live else INTERRUPTED, epoch, epochs or st.get("epochs"))


def newest_finished(base: str | Path) -> tuple[Path | None, list[str]]:
    """The newest complete run under ``base`` and the newer unfinished runs passed over
    (``"runs/detect/x (still training, epoch 4/10)"``)."""
    skipped = []
    for run in RunDir.by_age(base):
        st = run_state(run.path)
        if st.finished:
            return run.path, skipped
        skipped.append(f"{run.path} ({st.text})")
    return None, skipped


__all__ = [
    "COMPLETE",
    "INTERRUPTED",
    "NOT_JUDGED",
    "NOT_USABLE",
    "TRAINING",
    "USABLE",
    "WEAK",
    "RunState",
    "Verdict",
    "classifier_verdict",
    "classifier_verdict_from_metrics",
    "detector_verdict",
    "newest_finished",
    "run_state",
    "write_status",
]
