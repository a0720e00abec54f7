"""The error of the pull stage."""
from __future__ import annotations

from covsev_tools.errors import CovsevError

__all__ = ["PullError"]


class PullError(CovsevError, ValueError):
    """A pull cannot run: bad study list or option, server unreachable, credentials refused.

    Examples
    --------
    >>> str(PullError("http://127.0.0.1:9/dicom-web: server unreachable (connection refused)"))
    'http://127.0.0.1:9/dicom-web: server unreachable (connection refused)'
    """
