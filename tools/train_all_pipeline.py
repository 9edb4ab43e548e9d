"""``python tools/train_all_pipeline.py ...`` = ``leukoscan train-all-pipeline ...`` (see :mod:`leukoscan.commands.train_all_pipeline`)."""

from leukoscan.commands.train_all_pipeline import main

if __name__ == "__main__":
    raise SystemExit(main())
