"""Command-line tools: one module per verb of ``leukoscan <verb>`` (and ``tools/<name>.py``).

Each module has ``get_args_parser()`` and ``main(argv) -> exit code``: parse arguments,
load the config, call one library function, print a summary.
"""
