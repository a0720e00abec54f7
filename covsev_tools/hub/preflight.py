"""Checks before anything starts: can a study account run the hub's servers at all?

Rater servers run as the raters' own accounts. An installation they cannot read (a clone under
``/root`` or a 0700 home folder) or a study folder under a folder they cannot search makes every
spawn fail -- after a 300-second spinner, or with "500: Unhandled error". So ``hub init`` and
``hub start`` run, as an unprivileged account with the study's rater group, the study's Python and
import covsev, JupyterHub, Voila and ipykernel and open the study's files
(:func:`check_study_account`); the spawner checks the same paths from their modes before each
start (:func:`unreachable_for`), so a rater sees the reason on the hub's page within seconds.

Examples
--------
>>> reachable("/bin/sh", 65534, [65534], os.X_OK)
True
"""
from __future__ import annotations

import os
import pwd
import stat
import subprocess
import sysconfig
from pathlib import Path

from covsev_tools.hub.runtime import rater_python
from covsev_tools.hub.study import Study, StudyError

__all__ = ["check_study_account", "reachable", "unreachable_for"]

_FIX = ("install covsev where every account can read it (e.g. under /opt or /srv, not a home folder) "
        "and keep the study folder under folders every account can search (chmod o+x)")
_CHECK = """
import sys
for name in ("covsev_tools", "jupyterhub", "voila", "ipykernel"):
    __import__(name)
for path in sys.argv[1:]:
    open(path, "rb").close()
print("ok")
"""


def reachable(path, uid: int, gids, mode: int) -> bool:
    """True if account ``uid`` with groups ``gids`` can search every folder above ``path`` and has ``mode`` on it.

    ``mode`` is ``os.R_OK``, ``os.W_OK``, ``os.X_OK`` or a sum of them; modes only (no ACLs).

    Examples
    --------
    >>> reachable("/", 65534, [65534], os.R_OK | os.X_OK)
    True
    """
    if uid == 0:
        return True
    real = Path(os.path.realpath(path))

    def allows(target: Path, want: int) -> bool:
        info = target.stat()
        shift = 6 if info.st_uid == uid else 3 if info.st_gid in gids else 0
        return (stat.S_IMODE(info.st_mode) >> shift) & want == want

    try:
        return all(allows(p, os.X_OK) for p in reversed(real.parents)) and allows(real, mode)
    except OSError:
        return False


def unreachable_for(study: Study, name: str) -> str | None:
    """Why account ``name`` could not start its server (the interpreter, the packages, the study's app), or None.

    Examples
    --------
    >>> unreachable_for(Study.load("/srv/study"), "rad1")        # doctest: +SKIP
    "rad1 cannot reach /root/covsev/.venv/lib/python3.11/site-packages: install covsev where ..."
    """
    account = pwd.getpwnam(name)
    gids = set(os.getgrouplist(name, account.pw_gid))
    needs = [(rater_python(study), os.X_OK), (sysconfig.get_paths()["purelib"], os.R_OK | os.X_OK),
             (study.app_dir / "config" / "jupyter_server_config.py", os.R_OK), (study.app_dir, os.R_OK | os.X_OK)]
    for path, mode in needs:
        if not reachable(path, account.pw_uid, gids, mode):
            return f"{name} cannot reach {path}: {_FIX}"
    return None


def check_study_account(study: Study, timeout: float = 120) -> None:
    """Run the study's Python as an unprivileged account of the rater group: imports and study files.

    The account is ``nobody`` (or the first rater) with the study's rater group, which is what
    every study account has in common. Root only.

    Raises
    ------
    StudyError
        One line: what failed and how to fix it.

    Examples
    --------
    >>> check_study_account(Study.load("/srv/study"))        # doctest: +SKIP
    """
    import grp

    if os.geteuid() != 0:
        return  # only root can take another account's identity; hub init and start run as root
    try:
        account = pwd.getpwnam("nobody")
    except KeyError:
        raters = study.members("rater")
        if not raters:
            return
        account = pwd.getpwnam(raters[0])
    group = grp.getgrnam(study.rater_group).gr_gid
    files = [str(study.app_dir / "config" / "jupyter_server_config.py")]
    files += [str(study.cohort_dir(c) / "cohort.json") for c in study.settings["cohorts"]]
    python = rater_python(study)
    try:
        result = subprocess.run([python, "-c", _CHECK, *files], capture_output=True, text=True, timeout=timeout,
                                user=account.pw_uid, group=group, extra_groups=[group], cwd="/",
                                env={"PATH": "/usr/bin:/bin", "PYTHONNOUSERSITE": "1", "HOME": "/"})
    except PermissionError:
        raise StudyError(f"study accounts cannot run {python}: {_FIX}") from None
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise StudyError(f"study accounts cannot run {python} ({exc}): {_FIX}") from None
    if result.returncode != 0 or result.stdout.strip() != "ok":
        lines = (result.stderr or result.stdout).strip().splitlines()
        raise StudyError(f"study accounts cannot start a server ({lines[-1] if lines else result.returncode}): {_FIX}")
