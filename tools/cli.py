"""The ``leukoscan <verb>`` console script: dispatch ``leukoscan <verb> ...`` to
``leukoscan.tools.<verb>.main`` (``python tools/<verb>.py ...`` runs the same module).

The commands' shared helpers live in :mod:`leukoscan.tools.common`; nothing imports this
module but the console-script entry point, so loading a command by name closes no loop.
"""

from __future__ import annotations

import difflib
import importlib
import sys

#: ``leukoscan <verb>`` -> module under ``leukoscan.tools``.
COMMANDS = {
    "train-detector": "train_detector",
    "train-classifier": "train_classifier",
    "train-all-pipeline": "train_all_pipeline",
    "infer": "infer",
    "evaluate-detector": "evaluate_detector",
    "evaluate-pipeline": "evaluate_pipeline",
    "prepare-data": "prepare_data",
    "export": "export",
    "benchmark-classifiers": "benchmark_classifiers",
    "pretrain-backbone": "pretrain_backbone",
    "bundle-weights": "bundle_weights",
}


#: One line per verb for ``leukoscan -h`` (kept here so the help imports no command).
COMMAND_HELP = {
    "train-detector": "train a leukocyte detector (YOLO / Faster R-CNN) -> runs/detect/<name>",
    "train-classifier": "train a blast-vs-normal cell classifier -> runs/classify/<name>",
    "train-all-pipeline": "train detector + classifier + fusion for ALL-IDB1 slides -> runs/allpipe/<name>",
    "infer": "detect and classify cells on slides: annotated images, cell tables, report.html",
    "evaluate-detector": "COCO mAP of a detector on a dataset split",
    "evaluate-pipeline": "detector + classifier on ALL-IDB1 slides: cell and slide metrics",
    "prepare-data": "convert a dataset to the canonical form (YOLO + COCO) with a quality report",
    "export": "export detector and classifier to ONNX",
    "benchmark-classifiers": "cross-validate the classifier zoo, grouped by source slide",
    "pretrain-backbone": "self-supervised pretraining of a classifier backbone",
    "bundle-weights": "package a trained run (open data only) as bundled weights with a model card",
}


def _usage() -> str:
    verbs = "\n".join(f"  {v:<22}{COMMAND_HELP.get(v, '')}" for v in COMMANDS)
    return (
        f"usage: leukoscan <command> [options]   (leukoscan <command> -h for help; leukoscan --version)"
        f"\n\ncommands:\n{verbs}"
    )


def main(argv: list[str] | None = None) -> int:
    """``leukoscan <verb> [args]`` -> the verb's ``main(args)`` exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0 if argv else 2
    if argv[0] in ("-V", "--version"):
        from leukoscan import __version__  # only for --version: the dispatcher imports nothing else

        print(f"leukoscan {__version__}")
        return 0
    verb, rest = argv[0], argv[1:]
    if verb not in COMMANDS:
        close = difflib.get_close_matches(verb, COMMANDS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        print(f"error: unknown command {verb!r}.{hint} Commands: {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    # imported on demand: each command pulls in its own stage (torch, ultralytics, ...)
    module = importlib.import_module(f"leukoscan.tools.{COMMANDS[verb]}")
    prog, sys.argv[0] = sys.argv[0], f"leukoscan {verb}"  # argparse names the command in usage lines
    try:
        return module.main(rest)
    finally:
        sys.argv[0] = prog
