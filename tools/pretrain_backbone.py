"""``python tools/pretrain_backbone.py ...`` = ``leukoscan pretrain-backbone ...`` (see :mod:`leukoscan.commands.pretrain_backbone`)."""

from leukoscan.commands.pretrain_backbone import main

if __name__ == "__main__":
    raise SystemExit(main())
