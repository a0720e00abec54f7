"""The ``covsev`` command.

Each command group lives in ``covsev_tools/cli/<group>.py`` and exposes ``register(subparsers)``;
heavy imports stay inside the handlers so that ``covsev --help`` starts in well under a second.
"""
from __future__ import annotations

import argparse
import atexit
import importlib
import os
import signal
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
    """Entry point of the ``covsev`` console script.

    The interpreter's own teardown after a command finalises every loaded module (thousands after
    a report or torch). Every output file is closed by then, so the process leaves as soon as
    Python's exit handlers (thread joins, temporary folders, logging) have run, with the status
    Python would have given. ``benchmarks/exit_teardown.py`` measures what that saves.
    """
    outcome = {"status": 1, "interrupted": False}  # an escaping exception exits 1, as in Python
    # only as the console script itself: a handler registered earlier (pytest, coverage) would
    # never run, and its process would leave with this command's status. The atexit module has no
    # public way to ask whether a handler is registered; _ncallbacks (CPython 3.x) is the one
    # place that knows, and where it is missing the quick exit is simply not taken.
    if getattr(atexit, "_ncallbacks", lambda: 1)() == 0:
        atexit.register(_leave_without_teardown, outcome)  # registered first, so it runs last
    try:
        outcome["status"] = main()
        sys.stdout.flush()
    except BrokenPipeError:
        # `covsev ... | head` closed the pipe: not an error of covsev's. Point stdout at /dev/null so
        # the final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        outcome["status"] = 0
    except SystemExit as exc:  # argparse's --help, --version and usage errors
        outcome["status"] = _exit_status(exc.code)
        raise
    except KeyboardInterrupt:
        outcome["interrupted"] = True
        raise
    sys.exit(outcome["status"])


def _exit_status(code) -> int:
    """The status Python gives ``SystemExit(code)``: None is 0, a message (printed) is 1."""
    if code is None:
        return 0
    return code if isinstance(code, int) else 1


def _leave_without_teardown(outcome: dict) -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, OSError, ValueError):  # closed (None when its descriptor was)
            pass
    if outcome["interrupted"]:
        # as Python leaves on Ctrl-C: killed by SIGINT, so a calling shell loop stops too
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    os._exit(outcome["status"])


if __name__ == "__main__":
    sys.exit(main())
