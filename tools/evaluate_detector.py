"""``python tools/evaluate_detector.py ...`` = ``leukoscan evaluate-detector ...`` (see :mod:`leukoscan.commands.evaluate_detector`)."""

from leukoscan.commands.evaluate_detector import main

if __name__ == "__main__":
    raise SystemExit(main())
