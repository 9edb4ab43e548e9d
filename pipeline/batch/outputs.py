"""Output folders of a batch: one per run, locked while in use, all-or-none per slide.

- :func:`reserve_run_dir`: ``runs/infer/<name>`` (``name_2``, ``name_3``... when taken),
  created atomically (``mkdir`` without ``exist_ok``), so two runs started at once never
  share a folder.
- :func:`check_out_dir`: a named ``--out`` must be a folder we can write (checked before
  any model runs), and either empty or one LeukoScan wrote (its ``manifest.json`` is the
  marker): a folder of the user's own files is refused, so none of them is overwritten.
- :func:`locked_out_dir`: an exclusive lock (``filelock``, an ``flock`` on
  ``<out>/.leukoscan.lock``) held by the batch for the whole run; a second run on the same
  folder is refused with a message naming the run holding it. The kernel drops the lock
  when the process ends, also on ``kill -9``. :func:`ensure_free` checks it before the
  models load (``leukoscan infer``), without holding it.
- :func:`slide_outputs`: a slide's files are written into a hidden staging folder and
  moved into place only when all of them were written, so a slide has all its outputs
  or none. Staging folders left by a killed run are removed by the next run there.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from leukoscan.errors import ConfigError, LeukoScanError
from leukoscan.runs import RunDir

LOCK_FILE = ".leukoscan.lock"
MANIFEST = "manifest.json"  # a batch output folder's record; its presence marks a folder LeukoScan wrote
_STAGE_PREFIX = ".slide-"


class OutputBusyError(LeukoScanError, BlockingIOError):
    """The output folder is in use by another run."""


def reserve_run_dir(base: str | Path, name: str | None, default: str = "exp") -> Path:
    """Create and return a fresh run folder ``base/name`` (``name_2``... when taken)."""
    for _ in range(1000):
        path = RunDir.new(base, name, default=default).path
        try:
            path.mkdir(parents=True, exist_ok=False)
            return path
        except FileExistsError:  # another run took it between the check and the mkdir
            continue
    raise ConfigError(f"{base}: could not reserve a new run folder named {name or default!r}")


def check_out_dir(out: str | Path) -> Path:
    """``out`` as a writable folder (created when missing); ConfigError naming the problem."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: exists and is a file, not a folder")
    foreign = foreign_files(out)
    if foreign:
        raise ConfigError(
            f"--out {out}: holds files LeukoScan did not write ({', '.join(foreign[:3])}"
            f"{', ...' if len(foreign) > 3 else ''}; no {MANIFEST}); choose an empty or new folder"
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"--out {out}: cannot create the folder ({e.strerror or e})") from None
    probe = None
    try:
        fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=out)
        os.close(fd)
    except OSError as e:
        raise ConfigError(f"--out {out}: cannot write into the folder ({e.strerror or e})") from None
    finally:
        if probe:
            os.unlink(probe)
    return out


def foreign_files(out: Path) -> list[str]:
    """Names in ``out`` that a LeukoScan batch did not put there (empty when ``out`` holds our
    manifest, is missing or empty, or holds only our lock file and staging folders)."""
    if not out.is_dir() or (out / MANIFEST).is_file():
        return []
    ours = (LOCK_FILE,)
    return sorted(
        p.name for p in out.iterdir() if p.name not in ours and not p.name.startswith((_STAGE_PREFIX, ".write-test-"))
    )


@contextmanager
def locked_out_dir(out: str | Path) -> Iterator[Path]:
    """Hold an exclusive lock on ``out`` while inside; OutputBusyError when another run holds it."""
    out = check_out_dir(out)
    path = out / LOCK_FILE
    lock = FileLock(path)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        holder = path.read_text(errors="replace").strip() if path.is_file() else ""
        raise OutputBusyError(
            f"--out {out} is in use by {holder or 'another run'}; wait for it to finish or "
            "choose another --out (leave --out out to get a new folder)"
        ) from None
    try:
        path.write_text(f"pid {os.getpid()} (started {time.strftime('%Y-%m-%d %H:%M:%S')})\n")
        _remove_stale_stages(out)
        yield out
    finally:
        path.write_text("")
        lock.release()


def ensure_free(out: str | Path) -> Path:
    """``out`` as a writable folder that no run holds now (OutputBusyError otherwise); not kept locked."""
    with locked_out_dir(out) as out_dir:
        return out_dir


def _remove_stale_stages(out: Path) -> None:
    """Staging folders of a killed run (only called while holding the lock)."""
    for p in out.glob(f"{_STAGE_PREFIX}*"):
        shutil.rmtree(p, ignore_errors=True)


@contextmanager
def slide_outputs(out: str | Path) -> Iterator[Path]:
    """Yield a staging folder inside ``out``; on success move its files into ``out``.

    On any error the staging folder is removed and ``out`` is unchanged. Files keep their
    relative paths (``thumbs/x.jpg`` -> ``out/thumbs/x.jpg``); each move is a rename.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=_STAGE_PREFIX, dir=out))
    try:
        yield stage
        files = sorted(p for p in stage.rglob("*") if p.is_file())
        for f in files:
            dst = out / f.relative_to(stage)
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.replace(f, dst)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


__all__ = [
    "LOCK_FILE",
    "MANIFEST",
    "OutputBusyError",
    "check_out_dir",
    "ensure_free",
    "foreign_files",
    "locked_out_dir",
    "reserve_run_dir",
    "slide_outputs",
]
