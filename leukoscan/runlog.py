"""One run logger for every training run: ``metrics.csv`` and, when asked, Weights & Biases.

- :class:`RunLog`: ``log(row, wandb=None, step=None)`` appends ``row`` to ``<run>/metrics.csv``
  and sends it (or the stage's W&B view of it, ``wandb``) to the W&B run when there is one.
  The CSV has one row per (``stage``, ``epoch``): a row logged again for an epoch (a resumed
  run) replaces that stage's rows from that epoch on; a row without an epoch (a fold's
  summary) replaces the row of the same stage without one. Columns are the union of the
  rows' keys in first-seen order (``columns`` fixes the first ones); values are written
  with 6 significant digits, and the file is rewritten atomically after every row.
- :func:`start_wandb`: a W&B run in ``<run>/wandb``. ``WANDB_MODE=offline`` logs with no
  network and no prompt (``wandb sync <run>/wandb/offline-run-*`` uploads later); its id is
  kept in ``<run>/wandb_id.txt`` so a resumed run continues it; enabled but neither logged
  in nor offline, it fails at start with one clear message.

Used by detector training (``leukoscan.detect.train``, W&B keys from
:func:`leukoscan.detect.runlog.wandb_key`) and classifier training
(``leukoscan.classify.records``).
"""

from __future__ import annotations

import csv
import io
import numbers
import os
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from leukoscan.io import atomic_write_text


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, numbers.Real) and not isinstance(v, numbers.Integral):  # float, numpy floats
        return f"{float(v):.6g}"
    return str(v)


def _epoch(row: dict[str, Any]) -> int | None:
    e = row.get("epoch")
    return None if e in (None, "") else int(e)


def _replaces(new: dict[str, Any], old: dict[str, str]) -> bool:
    if str(new.get("stage", "")) != old.get("stage", ""):
        return False
    e_new, e_old = _epoch(new), _epoch(old)
    if e_new is None or e_old is None:
        return e_new is None and e_old is None
    return e_old >= e_new


class RunLog:
    """``metrics.csv`` of a run (and its W&B run, ``wb``); see the module docstring."""

    def __init__(self, run_dir: str | Path, wb: Any = None, *, columns: Sequence[str] = ()) -> None:
        self.path = Path(run_dir) / "metrics.csv"
        self.wb = wb
        self.columns = list(columns)

    def rows(self) -> list[dict[str, str]]:
        """The rows written so far (this session's and, after a resume, the earlier ones)."""
        if not self.path.is_file():
            return []
        with open(self.path, newline="") as f:
            return list(csv.DictReader(f))

    def __call__(self, row: dict[str, Any], wandb: dict[str, Any] | None = None, step: int | None = None) -> None:
        rows = [r for r in self.rows() if not _replaces(row, r)]
        rows.append({k: _cell(v) for k, v in row.items()})
        cols = list(self.columns)
        for r in rows:
            cols += [k for k in r if k not in cols]
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=cols)
        w.writeheader()
        w.writerows(rows)
        atomic_write_text(self.path, buf.getvalue())
        if self.wb is not None:
            data = {k: v for k, v in (row if wandb is None else wandb).items() if v is not None}
            self.wb.log(data, **({} if step is None else {"step": step}))

    def column(self, name: str, **where: str) -> list[float]:
        """The numeric values of column ``name`` in the rows matching ``where`` (blank cells skipped)."""
        return [
            float(r[name])
            for r in self.rows()
            if r.get(name) not in (None, "") and all(r.get(k) == v for k, v in where.items())
        ]


def start_wandb(
    run_dir: str | Path, *, project: str, name: str, config: dict[str, Any], job_type: str, entity: str | None = None
) -> Any:
    """A W&B run logging into ``run_dir`` (resumed when ``run_dir`` already has one)."""
    import wandb  # optional logger: imported only when asked for

    run_dir = Path(run_dir).absolute()  # wandb's core process (one per Python process) has its own cwd
    id_file = run_dir / "wandb_id.txt"
    run_id = id_file.read_text().strip() if id_file.is_file() else secrets.token_hex(4)
    id_file.write_text(run_id)
    os.environ.setdefault("WANDB_DIR", str(run_dir))
    os.environ.setdefault("WANDB_CACHE_DIR", str(run_dir / "wandb_cache"))
    try:
        return wandb.init(
            project=project,
            entity=entity,
            name=name,
            id=run_id,
            resume="allow",
            dir=str(run_dir),
            config=config,
            job_type=job_type,
        )
    except Exception as e:
        raise RuntimeError(
            f"W&B could not start ({str(e).splitlines()[0]}). Log in with `wandb login`, or set "
            "WANDB_MODE=offline to log locally without network, or drop --wandb."
        ) from e


__all__ = ["RunLog", "start_wandb"]
