"""Dataset cards (``datasets/<name>.yaml``) and locating a dataset under the data root.

:func:`locate` returns ``<data_root>/<card.folder>`` when the card's required entries are
there. Otherwise, when the card has a ``download`` URL and the network answers within a
few seconds, it downloads and unpacks the archive there; else it raises
:class:`MissingDatasetError` with one line saying where to put the files. Set
``LEUKOSCAN_OFFLINE=1`` (see :func:`leukoscan.offline.offline`) to never try the network.
"""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from leukoscan.errors import ConfigError, MissingDatasetError
from leukoscan.offline import offline, unreachable
from leukoscan.paths import CARDS_DIR, data_root

CONNECT_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Card:
    name: str
    task: str
    classes: list[str]
    folder: str | None = None
    required: list[str] = field(default_factory=list)
    source: str | None = None
    download: str | None = None
    download_subdir: str | None = None
    licence: str = ""
    layout: str = ""


def load_card(name: str) -> Card:
    """Read ``datasets/<name>.yaml`` into a :class:`Card` (unknown fields are ignored)."""
    import yaml

    path = CARDS_DIR / f"{name}.yaml"
    if not path.is_file():
        have = sorted(p.stem for p in CARDS_DIR.glob("*.yaml"))
        raise ConfigError(f"no dataset card {path} (cards: {', '.join(have)})")
    raw = yaml.safe_load(path.read_text()) or {}
    keys = Card.__dataclass_fields__
    return Card(**{k: v for k, v in raw.items() if k in keys})


def _missing(card: Card, folder: Path) -> list[str]:
    return [r for r in card.required if not (folder / r).exists()]


def locate(name: str, root: str | Path | None = None, *, download: bool = True) -> Path:
    """The dataset's folder under the data root (flag > LEUKOSCAN_DATA > ./datasets)."""
    card = load_card(name)
    if card.folder is None:
        raise ConfigError(f"dataset {name!r} is generated, it has no folder to locate")
    base = data_root(root)
    folder = base / card.folder
    missing = _missing(card, folder)
    if not missing:
        return folder
    where = f"{name}: not found: put the files under {folder}/ ({', '.join(card.required)})"
    where += " or pass --data-root / set LEUKOSCAN_DATA; see datasets/README.md"
    if not (card.download and download) or offline():
        raise MissingDatasetError(where + ("" if card.download else f" (obtain it from {card.source})"))
    reason = _try_download(card, folder)
    if reason is None and not _missing(card, folder):
        return folder
    raise MissingDatasetError(f"{where} (download failed: {reason or 'archive lacks ' + str(_missing(card, folder))})")


def _try_download(card: Card, folder: Path) -> str | None:
    """Download ``card.download`` (a zip) and move its ``download_subdir`` to ``folder``."""
    import urllib.request

    reason = unreachable(card.download, timeout=CONNECT_TIMEOUT_S)
    if reason:
        return reason
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder.parent, prefix=".download-") as tmp:
        archive = Path(tmp) / "archive.zip"
        try:
            with (
                urllib.request.urlopen(card.download, timeout=CONNECT_TIMEOUT_S * 6) as r,
                open(archive, "wb") as f,
            ):
                shutil.copyfileobj(r, f, 1 << 20)
            with zipfile.ZipFile(archive) as z:
                z.extractall(Path(tmp) / "x")
        except (OSError, zipfile.BadZipFile) as e:
            return f"{card.download}: {e}"
        hits = [p for p in (Path(tmp) / "x").rglob(card.download_subdir or "*") if p.is_dir()]
        hits = [p for p in hits if not _missing(card, p)]
        if not hits:
            return f"{card.download}: no folder {card.download_subdir!r} with {card.required} in the archive"
        if folder.exists():
            shutil.rmtree(folder)
        shutil.move(str(hits[0]), folder)
    return None
