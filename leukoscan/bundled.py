"""Weights shipped with the package ("trained on blood"), each with a model card.

``leukoscan/weights/<name>.pt`` is a plain tensor file (``torch.load(weights_only=True)``
reads it; it holds a state dict, the architecture's registry name, class names and input
size, never a pickled object) and ``<name>.card.json`` its model card: data, licence and
attribution, the command that reproduces it, the commit it was trained at, held-out metrics
with CIs, known limits, and the SHA-256 of the weights file. :func:`bundled_file` checks
that hash before anything reads the file, so a card always describes the bytes it sits next
to. Only weights trained on openly licensed data (PBC CC BY 4.0, BCCD and TXL-PBC MIT) are
bundled; models derived from ALL-IDB (research use only) never are.

Stages use bundled weights by name: ``pretrained: pbc`` (classifier zoo: the PBC backbone of
the same architecture) and ``pretrained: blood`` (YOLO detectors); ``leukoscan infer`` with
no trained run uses the bundled detector and says so.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from leukoscan.errors import BadInputError, MissingModelError
from leukoscan.io import atomic_path, atomic_write_json, sha256_file

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
CARD_SUFFIX = ".card.json"


def bundled_names(kind: str | None = None) -> list[str]:
    """Names of the bundled weights (``kind``: "detector", "classifier" or None for all)."""
    names = sorted(p.name[: -len(CARD_SUFFIX)] for p in WEIGHTS_DIR.glob(f"*{CARD_SUFFIX}"))
    return [n for n in names if kind is None or card(n).get("kind") == kind]


def card(name: str) -> dict[str, Any]:
    """The model card of bundled weights ``name`` (MissingModelError listing the names)."""
    path = WEIGHTS_DIR / f"{name}{CARD_SUFFIX}"
    if not path.is_file():
        have = ", ".join(bundled_names()) or "none"
        raise MissingModelError(f"no bundled weights named {name!r} (bundled: {have})")
    return json.loads(path.read_text())


def bundled_file(name: str) -> Path:
    """Path of bundled weights ``name``, after checking the file's SHA-256 against its card."""
    c = card(name)
    path = WEIGHTS_DIR / c["file"]
    if not path.is_file():
        raise MissingModelError(f"bundled weights {name!r}: {path} is missing (broken install?)")
    digest = sha256_file(path)
    if digest != c["sha256"]:
        raise BadInputError(
            f"bundled weights {name!r}: {path.name} has sha256 {digest[:12]}, its card "
            f"says {c['sha256'][:12]}; the file was changed or the card is stale"
        )
    return path


def read_weights(path: str | Path) -> dict[str, Any]:
    """A LeukoScan weights file as plain data (tensors, strings, numbers): ``weights_only`` load."""
    import torch

    try:
        blob = torch.load(Path(path), map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001  (any unpickling refusal or corrupt file)
        raise BadInputError(f"{path}: not a LeukoScan weights file ({' '.join(str(e).split())[:160]})") from e
    if not isinstance(blob, dict) or "state_dict" not in blob:
        raise BadInputError(f"{path}: not a LeukoScan weights file (no state_dict)")
    return blob


#: Data whose licence lets weights trained on it ship with the package (name -> licence, attribution).
OPEN_DATA = {
    "pbc": (
        "CC BY 4.0",
        "PBC: Acevedo A, Merino A, Alférez S, Molina Á, Boldú L, Rodellar J. A dataset of "
        "microscopic peripheral blood cell images for development of automatic recognition systems. "
        "Data in Brief 30 (2020) 105474. doi 10.17632/snkd93bnjr.1",
    ),
    "bccd": ("MIT", "BCCD: https://github.com/Shenggan/BCCD_Dataset (MIT)"),
    "txl_pbc": ("MIT", "TXL-PBC: https://github.com/lugan113/TXL-PBC_Dataset (MIT)"),
    "blood_fields": (
        "MIT (BCCD) + MIT (TXL-PBC)",
        "BCCD: https://github.com/Shenggan/BCCD_Dataset (MIT); "
        "TXL-PBC: https://github.com/lugan113/TXL-PBC_Dataset (MIT)",
    ),
}


def open_data_name(data: str) -> str:
    """The open dataset a training used (a dataset name, or a prepared folder whose quality report
    names the converter that wrote it), else BadInputError: weights derived from ALL-IDB (research
    use only, no redistribution) or from data of unknown origin never ship."""
    name = str(data)
    report = Path(name) / "report.json"
    if Path(name).is_dir():
        name = json.loads(report.read_text()).get("dataset", "") if report.is_file() else ""
    if name not in OPEN_DATA:
        raise BadInputError(
            f"data {data!r} is not one of the openly licensed sets ({', '.join(OPEN_DATA)}): "
            "weights trained on it are not bundled (ALL-IDB is research use only)"
        )
    return name


def write_bundle(name: str, blob: dict[str, Any], fields: dict[str, Any], *, out: str | Path | None = None) -> Path:
    """Write ``<out>/<name>.pt`` (``blob``: tensors and plain values only) and its card with the
    file's SHA-256; ``fields`` must name ``data`` (an open dataset, see :data:`OPEN_DATA`)."""
    import torch

    data = open_data_name(fields["data"])
    folder = Path(out) if out is not None else WEIGHTS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.pt"
    with atomic_path(path) as tmp:
        torch.save(blob, tmp)
    licence, attribution = OPEN_DATA[data]
    card_doc = {
        "name": name,
        **fields,
        "file": path.name,
        "sha256": sha256_file(path),
        "size_bytes": path.stat().st_size,
        "data": data,
        "licence_of_data": licence,
        "attribution": attribution,
    }
    atomic_write_json(folder / f"{name}{CARD_SUFFIX}", card_doc)
    render_cards(folder)
    return path


def _fmt_metric(v: Any) -> str:
    if isinstance(v, dict) and "value" in v:
        ci = v.get("ci95") or [None, None]
        return f"{v['value']:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if None not in ci else "")
    return f"{v:.3f}" if isinstance(v, float) else str(v)


def render_cards(folder: str | Path | None = None) -> Path:
    """``README.md`` of the weights folder: every card as a human-readable model card."""
    folder = Path(folder) if folder is not None else WEIGHTS_DIR
    lines = [
        "# Bundled weights (model cards)",
        "",
        "Generated from the `*.card.json` files beside each weights file (`leukoscan bundle-weights`).",
        "Weights files hold tensors and plain values only (read with `torch.load(weights_only=True)`);",
        "LeukoScan checks each file's SHA-256 against its card before use.",
        "",
    ]
    for p in sorted(folder.glob(f"*{CARD_SUFFIX}")):
        c = json.loads(p.read_text())
        lines += [
            f"## {c['name']}",
            "",
            f"- **What**: {c.get('kind')} `{c.get('arch')}`, classes {', '.join(c.get('class_names', []))}",
            f"- **Data**: `{c['data']}` (licence {c['licence_of_data']}). Attribution: {c['attribution']}",
            f"- **Recipe**: `{c.get('recipe')}` (commit {c.get('commit')})",
            f"- **File**: `{c['file']}`, {c['size_bytes'] / 1e6:.1f} MB, sha256 `{c['sha256']}`",
        ]
        for split, m in (c.get("held_out") or {}).items():
            rec = ", ".join(f"{k} {_fmt_metric(v)}" for k, v in m.get("recall", {}).items())
            lines.append(
                f"- **Held-out {split}** (n={m.get('n')}): accuracy {_fmt_metric(m.get('accuracy'))}, "
                f"balanced accuracy {_fmt_metric(m.get('balanced_accuracy'))}; recall per class: {rec}"
            )
        for key in ("val_metrics", "other_metrics"):
            if c.get(key):
                lines.append(f"- **{key.replace('_', ' ')}**: `{json.dumps(c[key])[:600]}`")
        lines += [f"- **Limits**: {'; '.join(c.get('limits', []))}", f"- **Use**: {c.get('use', '')}", ""]
    out = folder / "README.md"
    out.write_text("\n".join(lines) + "\n")
    return out
