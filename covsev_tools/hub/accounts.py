"""Accounts: a Unix account per study user (no login shell) and a hashed password in the hub's database.

Each rater's single-user server runs as that rater's own Unix account, so the operating system --
not the scoring page -- keeps them away from the key and from each other's labels. The password
is hashed by the authenticator's own code (NativeAuthenticator, bcrypt) and never stored in clear.

Examples
--------
>>> new_password()                                # doctest: +SKIP
'q3Rk0yT9vX2mP8sL'
"""
from __future__ import annotations

import grp
import os
import pwd
import secrets
import subprocess
from pathlib import Path

from covsev_tools.hub.study import Study, StudyError, validate_user_name

__all__ = ["account_marker", "ensure_label_account", "new_password", "remove_unix_account", "ensure_unix_account",
           "set_password", "check_password", "hub_db_url"]

_NOLOGIN = next((s for s in ("/usr/sbin/nologin", "/sbin/nologin", "/bin/false") if Path(s).exists()),
                "/bin/false")
MIN_PASSWORD_LENGTH = 10


#: Letters and digits that cannot be misread on paper or a screen (no 0/O/o, 1/I/l, 5/S, 2/Z, 8/B).
PASSWORD_ALPHABET = "abcdefghijkmnpqrtuvwxyzACDEFGHJKLMNPQRTUVWXY34679"


def new_password(length: int = 18) -> str:
    """A random password of unambiguous characters (18 of 49: about 101 bits).

    Examples
    --------
    >>> password = new_password()
    >>> len(password), set(password) <= set(PASSWORD_ALPHABET), not set("01lIO") & set(PASSWORD_ALPHABET)
    (18, True, True)
    """
    return "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(length))


def account_marker(study: Study) -> str:
    """The GECOS comment covsev writes on the accounts it makes, so it never adopts someone else's.

    Examples
    --------
    >>> from covsev_tools.hub.study import Study
    >>> account_marker(Study("/srv/study", {}, {}))
    'covsev study /srv/study'
    """
    return f"covsev study {study.dir}"


def _run(command: list[str]) -> None:
    try:
        result = subprocess.run(command, capture_output=True, text=True)
    except FileNotFoundError:
        raise StudyError(f"{command[0]} not found: covsev hub needs the shadow-utils commands "
                         "(useradd, groupadd)") from None
    if result.returncode != 0:
        message = (result.stderr or result.stdout).strip().splitlines()
        raise StudyError(f"{' '.join(command[:1])} failed: {message[-1] if message else result.returncode}")


def ensure_group(name: str) -> None:
    """Create the Unix group ``name`` unless it exists.

    Examples
    --------
    >>> ensure_group("covsev-raters")          # doctest: +SKIP
    """
    try:
        grp.getgrnam(name)
    except KeyError:
        _run(["groupadd", name])


def ensure_unix_account(study: Study, name: str, role: str) -> bool:
    """Create (or check) the Unix account of a study user; True if it was created now.

    The account has its home under ``homes/``, the study's rater group, and for coordinators the
    coordinator group and a shell (for their JupyterLab terminal); a rater's account has no shell. An existing account is used only if covsev made it for
    this study (its comment says so): a name such as ``root`` is never adopted.

    Examples
    --------
    >>> ensure_unix_account(Study.load("study"), "rad1", "rater")   # doctest: +SKIP
    True
    """
    validate_user_name(name)
    if os.geteuid() != 0:
        raise StudyError("creating Unix accounts needs root: run `sudo covsev hub add-user ...`")
    groups = [study.rater_group] + ([study.coordinator_group] if role == "coordinator" else [])
    for group in groups:
        ensure_group(group)
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        home = study.homes_dir / name
        _run(["useradd", "--comment", account_marker(study), "--home-dir", str(home), "--create-home",
              "--shell", _shell(role), "--user-group", "--groups", ",".join(groups), name])
        os.chmod(home, 0o700)
        return True
    if entry.pw_gecos != account_marker(study):
        raise StudyError(f"Unix account {name!r} already exists and was not made by covsev for this "
                         "study; choose another name")
    _run(["usermod", "--append", "--groups", ",".join(groups), "--shell", _shell(role), name])
    return False


#: The comment on the label service's account (one account serves every study of the machine).
LABEL_ACCOUNT_MARKER = "covsev label service"


def ensure_label_account(study: Study) -> int:
    """Create (or check) the label service's system account and put it in the study's groups; its uid.

    The account (:data:`covsev_tools.hub.labelservice.LABEL_ACCOUNT`) has no home, no shell and
    no password: only the hub runs it. It owns every rater's label log and reading order, and is
    in the rater group (cohort files) and the coordinator group (the study's settings, the
    repeat map that extends an order).

    Examples
    --------
    >>> ensure_label_account(Study.load("study"))      # doctest: +SKIP
    998
    """
    from covsev_tools.hub.labelservice import LABEL_ACCOUNT

    if os.geteuid() != 0:
        raise StudyError("creating the label service's account needs root: run `sudo covsev hub init`")
    groups = [study.rater_group, study.coordinator_group]
    for group in groups:
        ensure_group(group)
    try:
        entry = pwd.getpwnam(LABEL_ACCOUNT)
    except KeyError:
        _run(["useradd", "--system", "--comment", LABEL_ACCOUNT_MARKER, "--home-dir", "/nonexistent",
              "--no-create-home", "--shell", _NOLOGIN, "--user-group", "--groups", ",".join(groups),
              LABEL_ACCOUNT])
        return pwd.getpwnam(LABEL_ACCOUNT).pw_uid
    if entry.pw_gecos != LABEL_ACCOUNT_MARKER:
        raise StudyError(f"Unix account {LABEL_ACCOUNT!r} exists and was not made by covsev for its label "
                         "service; remove or rename it")
    if not all(LABEL_ACCOUNT in grp.getgrnam(g).gr_mem for g in groups):
        _run(["usermod", "--append", "--groups", ",".join(groups), LABEL_ACCOUNT])
    return entry.pw_uid


def _shell(role: str) -> str:
    """A coordinator's JupyterLab terminal and ``!covsev`` need a real shell; a rater gets none."""
    if role == "coordinator":
        return next((s for s in ("/bin/bash", "/bin/sh") if Path(s).exists()), _NOLOGIN)
    return _NOLOGIN


def remove_unix_account(study: Study, name: str) -> bool:
    """Delete a Unix account covsev made for this study (and its home); True if one was removed.

    Examples
    --------
    >>> remove_unix_account(Study.load("study"), "rad1")           # doctest: +SKIP
    True
    """
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return False
    if entry.pw_gecos != account_marker(study):
        raise StudyError(f"Unix account {name!r} was not made by covsev for this study; not removed")
    _run(["userdel", "--remove", name])
    return True


def hub_db_url(study: Study) -> str:
    """SQLAlchemy URL of the hub's database (``hub/jupyterhub.sqlite``).

    Examples
    --------
    >>> from covsev_tools.hub.study import Study
    >>> hub_db_url(Study("/srv/study", {}, {}))
    'sqlite:////srv/study/hub/jupyterhub.sqlite'
    """
    return f"sqlite:///{study.hub_dir / 'jupyterhub.sqlite'}"


def _authenticator(session):
    """A NativeAuthenticator bound to the hub's database, with the study's password rules."""
    from nativeauthenticator import NativeAuthenticator

    auth = NativeAuthenticator(add_new_table=False, enable_signup=True, open_signup=True,
                               check_common_password=True, minimum_password_length=MIN_PASSWORD_LENGTH)
    auth.db = session
    return auth


def _session(study: Study):
    import logging

    import nativeauthenticator.orm  # noqa: F401  (registers its users_info table on the hub's tables)
    from jupyterhub import orm

    logging.getLogger("alembic").setLevel(logging.WARNING)  # its first-run notes are not for users
    path = study.hub_dir / "jupyterhub.sqlite"
    old_umask = os.umask(0o077)  # the database holds password hashes: owner only from the start
    logging.disable(logging.INFO)  # alembic logs through JupyterHub's app log, whatever its own level
    try:
        session = orm.new_session_factory(hub_db_url(study))()
    finally:
        logging.disable(logging.NOTSET)
        os.umask(old_umask)
    os.chmod(path, 0o600)
    return session


def set_password(study: Study, name: str, password: str) -> None:
    """Store ``name``'s password, hashed by NativeAuthenticator, in the hub's database (new or changed).

    Examples
    --------
    >>> set_password(Study.load("study"), "rad1", "a-long-passphrase")   # doctest: +SKIP
    """
    session = _session(study)
    try:
        auth = _authenticator(session)
        if not auth.is_password_strong(password):
            raise StudyError(f"password refused: use at least {MIN_PASSWORD_LENGTH} characters, "
                             "not a common password")
        if auth.user_exists(name):
            auth.change_password(name, password)
        else:
            info = auth.create_user(name, password)
            if info is None:
                raise StudyError(f"the authenticator refused user name {name!r}")
        info = auth.get_user(name)
        info.is_authorized = True
        session.commit()
    finally:
        session.close()


def check_password(study: Study, name: str, password: str) -> bool:
    """True if ``password`` is ``name``'s (used by tests and by ``hub status`` checks).

    Examples
    --------
    >>> check_password(Study.load("study"), "rad1", "a-long-passphrase")   # doctest: +SKIP
    True
    """
    session = _session(study)
    try:
        info = _authenticator(session).get_user(name)
        return bool(info and info.is_authorized and info.is_valid_password(password))
    finally:
        session.close()
