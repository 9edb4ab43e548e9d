#!/usr/bin/env python
"""Train the whole ALL pipeline in one resumable command: detector, out-of-fold cells,
classifier, fusion, operating points (all on ALL-IDB1 training slides only).

    python tools/train_all_pipeline.py [--data-root DIR] [--name NAME] [key=value ...]
    python tools/train_all_pipeline.py --resume runs/allpipe/NAME
    python tools/infer.py slide.jpg --pipeline runs/allpipe/NAME

Reuse trained detectors instead of training them: ``detector=runs/detect/X``
``fold_detectors=[runs/detect/F0,runs/detect/F1]``. Budget (2-core CPU, defaults): three
YOLOv8n trainings of 30 epochs (the full detector and two half-data fold detectors,
~35 + 2 x ~20 min one thread each when run alone), then cells, classifier and selection in ~10 min.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(argv: list[str] | None = None) -> int:
    from leukoscan.app.allpipe import AllPipelineConfig, train_all_pipeline
    from leukoscan.config import ConfigError, load_config, parse_overrides
    from leukoscan.paths import new_run_dir

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", help="YAML config (default: configs/all_pipeline.yaml)")
    ap.add_argument("--data-root", help="where raw datasets live")
    ap.add_argument("--name", help="run folder name under runs/allpipe")
    ap.add_argument("--resume", metavar="RUN_DIR", help="continue an earlier run (finished stages are skipped)")
    ap.add_argument("overrides", nargs="*", help="key=value config overrides, e.g. cv_folds=5")
    a = ap.parse_args(argv)
    default = Path(__file__).resolve().parent.parent / "configs" / "all_pipeline.yaml"
    try:
        over = parse_overrides(a.overrides)
        if a.data_root:
            over["data_root"] = a.data_root
        if a.resume:
            run_dir = Path(a.resume)
            if not (run_dir / "config.yaml").is_file():
                raise ConfigError(f"{run_dir}: not a train_all_pipeline run (no config.yaml)")
            cfg = load_config(AllPipelineConfig, run_dir / "config.yaml", over)
        else:
            cfg = load_config(AllPipelineConfig, a.config or default, over)
            run_dir = new_run_dir("runs/allpipe", a.name, default="all")
    except (ConfigError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        out = train_all_pipeline(cfg, run_dir)
    except KeyboardInterrupt:
        print(f"\nstopped; continue with: python tools/train_all_pipeline.py --resume {run_dir}", file=sys.stderr)
        return 130
    print(f"pipeline: {out / 'pipeline.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
