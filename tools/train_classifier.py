"""``python tools/train_classifier.py ...`` = ``leukoscan train-classifier ...`` (see :mod:`leukoscan.commands.train_classifier`)."""

from leukoscan.commands.train_classifier import main

if __name__ == "__main__":
    raise SystemExit(main())
