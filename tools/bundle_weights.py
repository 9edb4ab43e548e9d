"""``python tools/bundle_weights.py ...`` = ``leukoscan bundle-weights ...`` (see :mod:`leukoscan.commands.bundle_weights`)."""

from leukoscan.commands.bundle_weights import main

if __name__ == "__main__":
    raise SystemExit(main())
