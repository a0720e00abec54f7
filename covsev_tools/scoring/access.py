"""Who may score what: the rater's identity (the JupyterHub login when there is one), reserved
rater names, and opening the cohort a page scores.

On JupyterHub the login is the identity: a rater never types it, and nothing else (an
environment variable, a name passed in code) can make the page save under another name.
"""
from __future__ import annotations

import os

from covsev_tools.cohort.ids import RESERVED_RATERS, validate_rater_id

COHORT_ENV, RATER_ENV, HUB_USER_ENV = "COVSEV_COHORT", "COVSEV_RATER", "JUPYTERHUB_USER"


class ScoringSetupError(Exception):
    """The page cannot start: no cohort given, unreadable cohort, or bad rater ID."""


#: Set by the hub for a rater with nothing to score: the message their page shows instead.
NO_CASES_ENV = "COVSEV_NO_CASES"


def hub_user() -> str | None:
    """The JupyterHub login name (``$JUPYTERHUB_USER``) or None when not running on a hub.

    Examples
    --------
    >>> import os; os.environ.pop("JUPYTERHUB_USER", None) and None
    >>> hub_user() is None
    True
    """
    return os.environ.get(HUB_USER_ENV) or None


def hub_logout_url(env=None) -> str | None:
    """The hub's logout address when the page runs under JupyterHub (its variables set), else None.

    Examples
    --------
    >>> hub_logout_url({"JUPYTERHUB_BASE_URL": "/study/", "JUPYTERHUB_SERVICE_PREFIX": "/study/user/r1/"})
    '/study/hub/logout'
    >>> hub_logout_url({"JUPYTERHUB_SERVICE_PREFIX": "/user/r1/"}), hub_logout_url({})
    ('/hub/logout', None)
    """
    env = os.environ if env is None else env
    if not (env.get("JUPYTERHUB_BASE_URL") or env.get("JUPYTERHUB_SERVICE_PREFIX")):
        return None
    return (env.get("JUPYTERHUB_BASE_URL") or "/").rstrip("/") + "/hub/logout"


def rater_from_env() -> str | None:
    """The rater ID: the hub login when on JupyterHub, else ``$COVSEV_RATER`` (None when neither).

    On a hub the login is the identity: nothing else (an environment variable, a typed name)
    can make a rater save under another name.

    Examples
    --------
    >>> import os
    >>> os.environ.pop("JUPYTERHUB_USER", None) and None
    >>> os.environ["COVSEV_RATER"] = "rad1"
    >>> rater_from_env()
    'rad1'
    >>> del os.environ["COVSEV_RATER"]
    """
    return hub_user() or os.environ.get(RATER_ENV) or None


def check_rater(rater: str, *, allow_reserved: bool = False) -> str:
    """Return ``rater`` if it may score; raise :class:`ScoringSetupError` otherwise.

    Refused: unsafe file names, the reserved names (:data:`RESERVED_RATERS`, ignoring case), and
    on JupyterHub any name other than the login.

    Examples
    --------
    >>> check_rater("rad1")
    'rad1'
    >>> check_rater("Consensus")
    Traceback (most recent call last):
    ...
    covsev_tools.scoring.access.ScoringSetupError: 'Consensus' is reserved for adjudicated scores; ...
    """
    try:
        validate_rater_id(rater)
    except ValueError as exc:
        raise ScoringSetupError(str(exc)) from None
    # ignoring case: on a case-insensitive disk (macOS, Windows shares) 'Consensus.jsonl' is the consensus log
    if rater.casefold() in RESERVED_RATERS and not allow_reserved:
        raise ScoringSetupError(f"{rater!r} is reserved for adjudicated scores; use your own rater ID")
    login = hub_user()
    if login and rater != login:
        raise ScoringSetupError(f"signed in as {login!r}: this page scores only as {login!r}")
    return rater


def load_cohort(cohort_dir=None):
    """Open the cohort folder (default ``$COVSEV_COHORT``) or raise :class:`ScoringSetupError`.

    Examples
    --------
    >>> load_cohort("/nowhere")
    Traceback (most recent call last):
    ...
    covsev_tools.scoring.access.ScoringSetupError: /nowhere: not a cohort folder (no cohort.json); ...
    """
    from covsev_tools.cohort import Cohort, CohortError

    cohort_dir = cohort_dir or os.environ.get(COHORT_ENV)
    if not cohort_dir:
        raise ScoringSetupError(f"no cohort given: set {COHORT_ENV} to the cohort folder")
    try:
        cohort = Cohort.load(cohort_dir)
        cohort.scales  # noqa: B018 -- a broken scale definition must stop the page here
    except (CohortError, ValueError) as exc:
        raise ScoringSetupError(str(exc)) from None
    return cohort
