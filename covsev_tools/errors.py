"""The errors covsev raises for input a user can fix.

Every error here carries a one-line message that names the file, row or option and the reason; the
``covsev`` command prints it and exits with status 2. The library raises them too, so a notebook
shows the same message as the command line.
"""
from __future__ import annotations

__all__ = ["CovsevError", "printable"]


class CovsevError(Exception):
    """An error the user can fix; printed as one line, exit status 2.

    Examples
    --------
    >>> str(CovsevError("ratings.csv: no column 'rater'"))
    "ratings.csv: no column 'rater'"
    """


def printable(text: str) -> str:
    r"""``text`` with every non-printable character escaped, for the terminal.

    A file name, a metadata value or a hand-edited record can hold terminal escape codes that clear
    the screen or retitle the window; printed through this function they are shown, not obeyed
    (``ESC`` becomes the four characters ``\x1b``). Messages also stay on one line.

    Examples
    --------
    >>> printable("scan\x1b[2J 1.png")
    'scan\\x1b[2J 1.png'
    >>> printable("two\nlines\u202e.png")
    'two\\nlines\\u202e.png'
    """
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))


def printable_table(text: str) -> str:
    r"""A multi-line text (a table) for the terminal: each line through :func:`printable`, lines kept.

    Examples
    --------
    >>> print(printable_table("a  b\n1  \x1b[2J"))
    a  b
    1  \x1b[2J
    """
    return "\n".join(printable(line) for line in str(text).split("\n"))
