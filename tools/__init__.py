"""Command-line tools (``tools/`` = ``leukoscan.tools``): one module per verb of ``leukoscan <verb>``.

``python tools/<verb>.py`` runs the same module as ``leukoscan <verb>`` (the modules import
``leukoscan.*`` absolutely, so they work as scripts too). Each has ``get_args_parser()`` and
``main(argv) -> exit code``: parse arguments, load the config, call one library function,
print a summary. :mod:`~leukoscan.tools.common` holds what they share;
:mod:`~leukoscan.tools.cli` is the ``leukoscan`` dispatcher, which nothing imports.
"""
