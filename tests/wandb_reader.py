"""Read an offline W&B run back (``run-*.wandb``: LevelDB-log framed protobuf ``Record``s).

wandb >= 0.2x writes the file from its Go core and no longer ships a Python reader; the
framing is LevelDB's log format (32 KiB blocks, 7-byte record headers) after a 7-byte
``:W&B`` file header.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

BLOCK, HEADER = 32768, 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def records(path: Path) -> list[Any]:
    from wandb.proto import wandb_internal_pb2 as pb

    data = Path(path).read_bytes()
    assert data[:4] == b":W&B", "not a W&B log"
    out, buf, pos = [], b"", HEADER
    while pos + HEADER <= len(data):
        left = BLOCK - pos % BLOCK
        if left < HEADER:  # block trailer padding
            pos += left
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + HEADER])
        chunk = data[pos + HEADER : pos + HEADER + length]
        pos += HEADER + length
        if kind == 0 and length == 0:
            continue
        buf = chunk if kind in (FULL, FIRST) else buf + chunk
        if kind in (FULL, LAST):
            rec = pb.Record()
            rec.ParseFromString(buf)
            out.append(rec)
    return out


def read_run(run_dir: Path) -> dict[str, Any]:
    """``{"run": RunRecord, "config": {...}, "history": [{key: value}], "summary": {...},
    "artifacts": [ArtifactRecord]}`` of the one offline run under ``run_dir``."""
    (path,) = sorted(Path(run_dir).rglob("offline-run-*/run-*.wandb"))[-1:]
    out: dict[str, Any] = {"run": None, "config": {}, "history": [], "summary": {}, "artifacts": []}
    for rec in records(path):
        kind = rec.WhichOneof("record_type")
        if kind == "run":
            out["run"] = rec.run
            out["config"].update({i.key: json.loads(i.value_json) for i in rec.run.config.update})
        elif kind == "config":
            out["config"].update({i.key: json.loads(i.value_json) for i in rec.config.update})
        elif kind == "history":
            out["history"].append(
                {(i.key or "/".join(i.nested_key)): json.loads(i.value_json) for i in rec.history.item}
            )
        elif kind == "summary":
            out["summary"].update(
                {(i.key or "/".join(i.nested_key)): json.loads(i.value_json) for i in rec.summary.update}
            )
        elif kind == "artifact":
            out["artifacts"].append(rec.artifact)
    return out
