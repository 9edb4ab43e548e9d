"""``python tools/benchmark_classifiers.py ...`` = ``leukoscan benchmark-classifiers ...`` (see :mod:`leukoscan.commands.benchmark_classifiers`)."""

from leukoscan.commands.benchmark_classifiers import main

if __name__ == "__main__":
    raise SystemExit(main())
