"""Train the whole ALL pipeline in one resumable command: detector, cells, out-of-fold
classifier scores, fusion and operating points, all on ALL-IDB1 training slides only.

    leukoscan train-all-pipeline [--data-root DIR] [--name NAME] [key=value ...]
    leukoscan train-all-pipeline --resume runs/allpipe/NAME
    leukoscan infer slide.jpg --pipeline runs/allpipe/NAME

Reuse a trained detector instead of training one: ``detector=runs/detect/X``. Budget on a
2-core CPU with the defaults (configs/all_pipeline.yaml): one 30-epoch tiled YOLOv8n training
(~40 min alone on one thread), then cells, out-of-fold classifier scores, fusion and the
selection in ~1-2 min. ``cells_detector=oof`` adds two half-data fold detectors (~20 min
each; reuse with ``fold_detectors=[F0,F1]``). (``python tools/train_all_pipeline.py ...`` is
the same command.) Exit code 2 on a bad config value or missing data; 130 when interrupted
(rerun with --resume to continue).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from leukoscan.classify.repeats import fmt_spread
from leukoscan.config import load_config, parse_overrides
from leukoscan.errors import ConfigError
from leukoscan.paths import CONFIGS_DIR
from leukoscan.pipeline.train.allpipe import AllPipelineConfig, train_all_pipeline
from leukoscan.runs import RunDir
from leukoscan.tools.common import EXIT_INTERRUPTED, interruptible, user_errors

DEFAULT_CONFIG = CONFIGS_DIR / "all_pipeline.yaml"


def get_args_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], epilog=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--config", default=str(DEFAULT_CONFIG), help="YAML config")
    ap.add_argument("--data-root", help="where raw datasets live")
    ap.add_argument("--name", help="run folder name under runs/allpipe")
    ap.add_argument("--resume", metavar="RUN_DIR", help="continue an earlier run (finished stages are skipped)")
    ap.add_argument("overrides", nargs="*", help="key=value config overrides, e.g. cv_folds=5")
    return ap


@user_errors
def main(argv: list[str] | None = None) -> int:
    a = get_args_parser().parse_args(argv)
    over = parse_overrides(a.overrides)
    if a.data_root:
        over["data_root"] = a.data_root
    if a.resume:
        run_dir = Path(a.resume)
        if not (run_dir / "config.yaml").is_file():
            raise ConfigError(f"{run_dir}: not a train-all-pipeline run (no config.yaml)")
        cfg = load_config(AllPipelineConfig, run_dir / "config.yaml", over)
    else:
        cfg = load_config(AllPipelineConfig, a.config, over)
        run_dir = RunDir.new("runs/allpipe", a.name, default="all").path
    try:
        with interruptible():
            out = train_all_pipeline(cfg, run_dir)
    except KeyboardInterrupt:
        print(f"\nstopped; continue with: leukoscan train-all-pipeline --resume {run_dir}")
        return EXIT_INTERRUPTED
    _print_spread(out / "pipeline.json")
    print(f"pipeline: {out / 'pipeline.json'}  (use: leukoscan infer SLIDE --pipeline {out})")
    return 0


def _print_spread(path: Path) -> None:
    """The CV estimate of the slide answer with its spread over fold seeds."""
    import json

    spec = json.loads(path.read_text())
    sp = spec.get("spread") or {}
    if not sp:
        return
    per = sp["pooled_choice_per_seed"]
    print(
        f"operating point (pooled over fold seeds {spec['fold_seeds']}): conf {spec['conf']}, reject "
        f"{spec['reject']}, blast {spec['blast_threshold']}; each seed's own blast threshold "
        f"{[c['blast'] for c in sp['chosen_per_seed']]}"
    )
    print(
        f"CV estimate at that point, mean (range) over fold seeds: blast % MAE "
        f"{fmt_spread(per['blast_pct_mae'], 2)}, cell blast F1 {fmt_spread(per['f1'])}"
    )


if __name__ == "__main__":
    raise SystemExit(main())
