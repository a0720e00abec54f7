"""The error of the cohort stage."""
from __future__ import annotations

from covsev_tools.errors import CovsevError

__all__ = ["CohortError"]


class CohortError(CovsevError, ValueError):
    """A cohort cannot be created or read (bad arguments, missing or inconsistent files).

    Examples
    --------
    >>> str(CohortError("cohorts/pilot: not a cohort folder"))
    'cohorts/pilot: not a cohort folder'
    """
