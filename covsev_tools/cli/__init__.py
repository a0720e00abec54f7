"""The ``covsev`` command line: argument parsing only.

Each module here registers one command group and calls one library function per command; the
library never imports this package.
"""
from covsev_tools.cli.main import build_parser, console_main, main

__all__ = ["build_parser", "console_main", "main"]
