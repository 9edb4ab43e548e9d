"""The pieces every command shares (the dispatcher is :mod:`leukoscan.tools.cli`).

- :func:`user_errors`: the one error contract of every command: a
  :class:`~leukoscan.errors.LeukoScanError` (bad config, missing data or model, bad input)
  is printed as one line and the exit code is 2; any other exception is a bug and raises.
  A batch command returns 1 itself when some of its inputs failed (:data:`EXIT_PARTIAL`).
- :func:`training_parser`: the flags every training tool has (``--config``, ``--model``,
  ``--data``, ``--data-root``, ``--epochs``, ``--imgsz``, ``--batch``, ``--device``,
  ``--pretrained/--scratch``, ``--wandb``, ``--name``, ``--list-models`` and
  ``key=value`` overrides); a tool adds its own on top.
- :func:`flag_overrides`: the given flags as a config override dict.
- :func:`interruptible`: make SIGINT and SIGTERM raise ``KeyboardInterrupt`` so a
  training tool can print how to resume and exit 130, also when it was started in the
  background by a non-interactive shell (which starts ``&`` jobs with SIGINT ignored).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import signal
import sys
from collections.abc import Callable, Iterator
from typing import Any

from leukoscan.errors import LeukoScanError

EXIT_OK, EXIT_PARTIAL, EXIT_USER_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130


def error_line(e: BaseException) -> str:
    """``error: <message>`` on one line (newlines in the message become spaces)."""
    return "error: " + " ".join(str(e).split())


def user_errors(main: Callable[[list[str] | None], int]) -> Callable[[list[str] | None], int]:
    """Wrap a command's ``main(argv)``: LeukoScanError -> one line on stderr, exit code 2."""

    @functools.wraps(main)
    def wrapper(argv: list[str] | None = None) -> int:
        try:
            return main(argv)
        except LeukoScanError as e:
            print(error_line(e), file=sys.stderr)
            return EXIT_USER_ERROR

    return wrapper


def training_parser(
    doc: str,
    *,
    default_config: str,
    model_help: str,
    data_help: str,
    runs: str,
    pretrained_help: str,
    override_example: str,
) -> argparse.ArgumentParser:
    """An argument parser with the flags shared by the training commands (``leukoscan train-*``)."""
    p = argparse.ArgumentParser(
        description=doc.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=doc
    )
    p.add_argument("--config", default=default_config, help="YAML experiment config")
    p.add_argument("--model", help=f"{model_help} (see --list-models)")
    p.add_argument("--data", help=data_help)
    p.add_argument("--data-root", dest="data_root", help="where raw datasets live")
    p.add_argument("--epochs", type=int, help="training epochs")
    p.add_argument("--imgsz", type=int, help="input size in px")
    p.add_argument("--batch", type=int, help="batch size")
    p.add_argument("--device", help="auto (default), cpu, cuda:0, 0")
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--pretrained",
        dest="pretrained",
        action="store_true",
        default=None,
        help=pretrained_help,
    )
    g.add_argument("--scratch", dest="pretrained", action="store_false", help="train from scratch (random init)")
    p.add_argument("--wandb", action="store_true", default=None, help="log to Weights & Biases")
    p.add_argument("--name", help=f"run folder name under {runs}")
    p.add_argument("--list-models", action="store_true", help="print the registered models and exit")
    p.add_argument("overrides", nargs="*", help=f"key=value config overrides, e.g. {override_example}")
    return p


def flag_overrides(a: argparse.Namespace, flags: tuple[str, ...]) -> dict[str, Any]:
    """``{flag: value}`` for each of ``flags`` given on the command line (not None)."""
    return {k: getattr(a, k) for k in flags if getattr(a, k) is not None}


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """Inside: SIGINT (also when inherited as ignored) and SIGTERM -> ``KeyboardInterrupt``.

    The previous handlers come back on exit. Main thread only.
    """
    old = {s: signal.signal(s, _raise_interrupt) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def print_grouped(groups: dict[str, list[str]], width: int = 100) -> None:
    """``--list-models``: one heading per group, its names wrapped below it."""
    import textwrap

    for title, names in groups.items():
        if names:
            print(f"{title} ({len(names)}):")
            print(textwrap.fill(", ".join(names), width=width, initial_indent="  ", subsequent_indent="  "))
