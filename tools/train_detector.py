"""``python tools/train_detector.py ...`` = ``leukoscan train-detector ...`` (see :mod:`leukoscan.commands.train_detector`)."""

from leukoscan.commands.train_detector import main

if __name__ == "__main__":
    raise SystemExit(main())
