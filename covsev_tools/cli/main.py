"""The ``covsev`` command.

Each command group lives in ``covsev_tools/cli/<group>.py`` and exposes ``register(subparsers)``;
heavy imports stay inside the handlers so that ``covsev --help`` starts in well under a second.
"""
from __future__ import annotations

import argparse
import atexit
import gc
import importlib
import os
import sys

from covsev_tools import __version__
from covsev_tools.errors import CovsevError, printable

COMMAND_GROUPS = ("pull", "cohort", "labels", "predict", "refit", "agreement", "equivalence",
                  "plan", "report", "link", "demo", "hub", "readerstudy", "study")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="covsev",
        description="Blinded chest X-ray severity scoring and model validation.",
    )
    parser.add_argument("--version", action="version", version=f"covsev {__version__}")
    parser.add_argument("--raw-csv", dest="raw_csv_everywhere", action="store_true",
                        help="write CSV cells unchanged (default: text cells starting with = + - @ tab CR "
                             "get a ' prefix so spreadsheets do not run them as formulas)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for group in COMMAND_GROUPS:
        importlib.import_module(f"covsev_tools.cli.{group}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        from contextlib import nullcontext

        from covsev_tools.files import raw_csv

        with raw_csv() if args.raw_csv_everywhere else nullcontext():  # --raw-csv: every CSV writer
            return int(args.handler(args) or 0)
    except CovsevError as exc:
        print(f"covsev {args.command}: error: {printable(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def console_main() -> None:
    """Entry point of the ``covsev`` console script: :func:`main`, then Python's own exit.

    At exit the interpreter collects garbage several times while it finalises every loaded module
    (thousands after a report or torch), traversing every object each time.  Nothing is left to
    collect that a command needs: its outputs are written whole and closed by then.  So once the
    exit handlers start, the heap is frozen (:func:`gc.freeze`, public since Python 3.7) and those
    passes skip it (garbage in reference cycles is then left to the operating system); exit
    handlers, flushing, the exit status and the finalisation of everything else stay Python's own.
    ``benchmarks/exit_teardown.py`` measures what that saves.
    """
    # At exit only: a program that calls this and catches the SystemExit keeps collecting garbage.
    atexit.register(gc.freeze)
    try:
        status = main()
        sys.stdout.flush()
    except BrokenPipeError:
        # `covsev ... | head` closed the pipe: not an error of covsev's. Point stdout at /dev/null so
        # the final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        status = 0
    sys.exit(status)


if __name__ == "__main__":
    sys.exit(main())
