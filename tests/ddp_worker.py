"""Run under ``torchrun``: a few Faster R-CNN steps on gloo, logging what each rank read and wrote.

    python -m torch.distributed.run --standalone --nproc_per_node 2 tests/ddp_worker.py DATA PROJECT LOG_DIR

Each rank writes ``LOG_DIR/rank<R>.json``: the dataset indices it loaded, in order, and
every file-system write (open for writing, mkdir, rename/replace) under PROJECT, caught
with an audit hook.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


def main(data: str, project: str, log_dir: str) -> None:
    from leukoscan.detect.backends import frcnn
    from leukoscan.detect.train import DetectTrainConfig, train

    root = str(Path(project).resolve())
    writes: list[str] = []

    def audit(event: str, args: tuple) -> None:
        if event == "open":
            path, mode, flags = args
            writing = any(c in mode for c in "wax+") if isinstance(mode, str) else bool(flags & WRITE_FLAGS)
            paths = [path] if writing else []
        elif event in ("os.mkdir", "os.rename", "os.remove", "os.rmdir", "shutil.rmtree"):
            paths = [a for a in args[:2] if isinstance(a, str | bytes | os.PathLike)]
        else:
            return
        for p in paths:
            p = os.fsdecode(p) if not isinstance(p, int) else ""
            if p and os.path.abspath(p).startswith(root):
                writes.append(f"{event} {os.path.relpath(os.path.abspath(p), root)}")

    seen: list[int] = []
    get = frcnn.BoxDataset.__getitem__
    frcnn.BoxDataset.__getitem__ = lambda self, i: (seen.append(int(i)), get(self, i))[1]
    sys.addaudithook(audit)
    cfg = DetectTrainConfig(
        model="fasterrcnn_mobilenet_v3_large_fpn",
        data=data,
        epochs=2,
        imgsz=64,
        batch=2,
        device="cpu",
        pretrained=False,
        threads=1,
        rois_per_image=16,
        val=False,
        project=project,
        name="ddp",
    )
    run = train(cfg, progress=False)
    rank = int(os.environ["RANK"])
    log = {"rank": rank, "world": int(os.environ["WORLD_SIZE"]), "indices": seen, "writes": writes, "run": str(run)}
    Path(log_dir, f"rank{rank}.json").write_text(json.dumps(log))


if __name__ == "__main__":
    main(*sys.argv[1:4])
