"""``python tools/evaluate_pipeline.py ...`` = ``leukoscan evaluate-pipeline ...`` (see :mod:`leukoscan.commands.evaluate_pipeline`)."""

from leukoscan.commands.evaluate_pipeline import main

if __name__ == "__main__":
    raise SystemExit(main())
