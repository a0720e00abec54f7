"""Identifiers: opaque case IDs and the rater-ID rule.

Case IDs are drawn at random (``secrets``), so they say nothing about the file they stand for, and a
hidden repeat's ID is drawn the same way as a case's. A rater ID names files (``orders/<rater>.json``
here, ``<rater>.jsonl`` in the label store), so one rule decides which IDs are safe; it lives here,
upstream of the label store, which imports it.

Examples
--------
>>> is_case_id(new_case_id())
True
>>> validate_rater_id("rad_01")
'rad_01'
"""
from __future__ import annotations

import re
import secrets

from covsev_tools.errors import CovsevError

__all__ = ["CASE_ID_PATTERN", "CONSENSUS_RATER", "RATER_ID_PATTERN", "RESERVED_RATERS", "RaterIdError",
           "is_case_id", "new_case_id", "validate_rater_id"]

# No 0/o/1/l/i: IDs are read aloud and typed by people. The leading "c" keeps every ID non-numeric,
# so spreadsheet tools and pandas never turn one into a number.
_ID_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
_ID_LENGTH = 8
#: What every case (and hidden repeat) ID looks like.
CASE_ID_PATTERN = re.compile(r"^c[a-z0-9]{%d}$" % _ID_LENGTH)
#: A rater ID: 1-64 letters, digits, ``.``, ``_``, ``@`` or ``-``, starting with a letter or digit.
RATER_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
#: The rater name under which an adjudicator's consensus scores are stored (``covsev adjudicate``).
#: It is the reference standard, never a rater: statistics between raters leave it out.
CONSENSUS_RATER = "consensus"
#: Rater names no person may score under.
RESERVED_RATERS = (CONSENSUS_RATER,)


class RaterIdError(CovsevError, ValueError):
    """A rater ID that cannot safely be a file name."""


def new_case_id(taken: set[str] | None = None) -> str:
    """A fresh opaque ID such as ``"c7hk2m9qx"`` (cryptographically random, never derived from a file).

    Parameters
    ----------
    taken : set of str, optional
        IDs already in use; the new ID is added to it.

    Returns
    -------
    str

    Examples
    --------
    >>> taken = {"c23456789"}
    >>> fresh = new_case_id(taken)
    >>> fresh in taken and fresh != "c23456789" and len(fresh) == 9
    True
    """
    taken = taken if taken is not None else set()
    while True:
        candidate = "c" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(_ID_LENGTH))
        if candidate not in taken:
            taken.add(candidate)
            return candidate


def is_case_id(text: str) -> bool:
    """True when ``text`` has the shape of a case or repeat ID.

    Examples
    --------
    >>> is_case_id("c7hk2m9qx"), is_case_id("patient_01")
    (True, False)
    """
    return isinstance(text, str) and bool(CASE_ID_PATTERN.match(text))


def validate_rater_id(rater: str) -> str:
    """Return ``rater`` if it is a safe file name, else raise :class:`RaterIdError`.

    A rater ID is 1-64 characters of letters, digits, ``.``, ``_``, ``@`` or ``-`` and starts with a
    letter or digit (so it can be neither ``..`` nor a hidden file nor contain a path separator).

    Examples
    --------
    >>> validate_rater_id("rad_01")
    'rad_01'
    >>> validate_rater_id("../x")
    Traceback (most recent call last):
    ...
    covsev_tools.cohort.ids.RaterIdError: invalid rater ID '../x': use 1-64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit
    """
    if not isinstance(rater, str) or not RATER_ID_PATTERN.match(rater):
        raise RaterIdError(
            f"invalid rater ID {rater!r}: use 1-64 letters, digits, '.', '_', '@' or '-', "
            "starting with a letter or digit"
        )
    return rater
