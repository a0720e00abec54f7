"""The errors covsev raises for input a user can fix.

Every error here carries a one-line message that names the file, row or option and the reason; the
``covsev`` command prints it and exits with status 2. The library raises them too, so a notebook
shows the same message as the command line.
"""
from __future__ import annotations

__all__ = ["CovsevError"]


class CovsevError(Exception):
    """An error the user can fix; printed as one line, exit status 2.

    Examples
    --------
    >>> str(CovsevError("ratings.csv: no column 'rater'"))
    "ratings.csv: no column 'rater'"
    """
