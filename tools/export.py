"""``python tools/export.py ...`` = ``leukoscan export ...`` (see :mod:`leukoscan.commands.export`)."""

from leukoscan.commands.export import main

if __name__ == "__main__":
    raise SystemExit(main())
