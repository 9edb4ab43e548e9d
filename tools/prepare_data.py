"""``python tools/prepare_data.py ...`` = ``leukoscan prepare-data ...`` (see :mod:`leukoscan.commands.prepare_data`)."""

from leukoscan.commands.prepare_data import main

if __name__ == "__main__":
    raise SystemExit(main())
