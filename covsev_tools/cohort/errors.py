"""The error of the cohort stage."""
from __future__ import annotations

from pathlib import Path

from covsev_tools.errors import CovsevError

__all__ = ["CohortError", "NoReadableImageError"]


class CohortError(CovsevError, ValueError):
    """A cohort cannot be created or read (bad arguments, missing or inconsistent files).

    Examples
    --------
    >>> str(CohortError("cohorts/pilot: not a cohort folder"))
    'cohorts/pilot: not a cohort folder'
    """


class NoReadableImageError(CohortError):
    """Not one file of the images folder could be read as an image; nothing was written.

    Attributes
    ----------
    report : CreationReport
        What was found, with every file's error in ``report.unreadable``.

    Examples
    --------
    >>> from covsev_tools.cohort import CreationReport
    >>> report = CreationReport(n_files=2, unreadable=[("a.png", "empty file (0 bytes)"), ("b.txt", "not an image")])
    >>> str(NoReadableImageError(Path("scans"), report))
    'scans: none of the 2 file(s) is a readable image (a.png: empty file (0 bytes); and 1 more); nothing written'
    """

    def __init__(self, images_dir: Path, report):
        self.report = report
        detail = ""
        if report.unreadable:
            (name, reason), more = report.unreadable[0], len(report.unreadable) - 1
            detail = f" ({name}: {reason}" + (f"; and {more} more" if more else "") + ")"
        super().__init__(f"{images_dir}: none of the {report.n_files} file(s) is a readable image{detail}; "
                         "nothing written")
