"""``python tools/infer.py ...`` = ``leukoscan infer ...`` (see :mod:`leukoscan.commands.infer`)."""

from leukoscan.commands.infer import main

if __name__ == "__main__":
    raise SystemExit(main())
