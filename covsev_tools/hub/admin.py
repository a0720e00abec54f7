"""The study's administration: ``covsev hub init``, ``add-user``, ``remove-user``, ``assign``, ``finish``.

Making the study folder (its files, modes and the accounts' runtime) and changing who reads what.

Examples
--------
>>> study = init_study("study", cohorts=["cohorts/pilot"])          # doctest: +SKIP
>>> password = add_user("study", "rad1", "rater")                   # doctest: +SKIP
>>> assign("study", "rad1", "pilot")                                # doctest: +SKIP
"""
from __future__ import annotations

import os
import pwd
import shlex
import shutil
from pathlib import Path

from covsev_tools.files import write_text_atomic
from covsev_tools.hub.accounts import (_session, ensure_group, ensure_label_account, ensure_unix_account,
                                       new_password, remove_unix_account, set_password)
from covsev_tools.hub.hubconfig import HUB_CONFIG
from covsev_tools.hub.isolation import account_cgroup, end_account_processes, remove_cgroup
from covsev_tools.hub.notebooks import write_coordinator_notebooks
from covsev_tools.hub.permissions import apply_permissions, prepare_rater
from covsev_tools.hub.preflight import check_study_account
from covsev_tools.hub.runtime import compile_bytecode, prepare_runtime
from covsev_tools.hub.singleuser import RATER_SERVER_CONFIG
from covsev_tools.hub.spawner import SCORING_NOTEBOOK
from covsev_tools.hub.study import Study, StudyError, validate_user_name
from covsev_tools.hub.training import bring_training

__all__ = ["add_cohort", "add_user", "assign", "finish", "init_study", "protect_cohort_sources", "remove_user"]

_SCORING_CELL = (
    "# covsev reader study: the rater's scoring page. The rater ID is the hub login;\n"
    "# the cohort and the label folder come from the hub (COVSEV_COHORT, COVSEV_LABELS_DIR).\n"
    "from covsev_tools.scoring import launch\n\n"
    "launch()"
)


#: ``app/coordinator/bashrc``: the coordinators' terminal (``{bin}``: the study's ``app/bin``).
COORDINATOR_BASHRC = """# Written by covsev hub init: a coordinator's JupyterLab terminal.
[ -f ~/.bashrc ] && . ~/.bashrc
export PATH={bin}:$PATH
[ "$PWD" = "$HOME" ] && [ -n "$JUPYTER_SERVER_ROOT" ] && cd "$JUPYTER_SERVER_ROOT"
"""

#: ``app/coordinator/jupyter_server_config.py`` (``{rcfile}``: the bashrc above).
COORDINATOR_SERVER_CONFIG = """# Written by covsev hub init: a coordinator's JupyterLab server.
c.ServerApp.terminado_settings = {{"shell_command": ["/bin/bash", "--rcfile", {rcfile!r}, "-i"]}}  # noqa: F821
"""


def _require_root(what: str) -> None:
    if os.geteuid() != 0:
        raise StudyError(f"{what} needs root (it sets Unix owners and groups): run it with sudo")


def init_study(study_dir, cohorts=(), name: str | None = None, rater_group: str = "covsev-raters",
               coordinator_group: str = "covsev-coordinators", idle_timeout: int = 3600,
               memory_limit_mb: int | None = None, max_processes: int | None = None) -> Study:
    """Make (or extend) a study folder: hub configuration, database, cookie secret, cohorts.

    Re-running on an existing study adds the cohorts given (and refreshes ones already there) and
    changes the limits given.

    Parameters
    ----------
    memory_limit_mb, max_processes : int, optional
        Limits of every study server (see :mod:`covsev_tools.hub.isolation`): address space per
        process in MiB, and processes plus threads per account. Default
        :data:`covsev_tools.hub.study.DEFAULT_LIMITS`.

    Returns
    -------
    Study

    Examples
    --------
    >>> init_study("/srv/study", ["cohorts/pilot"], name="Pilot")      # doctest: +SKIP
    Study('/srv/study', 0 users)
    """
    _require_root("covsev hub init")
    directory = Path(study_dir)
    limits = {k: int(v) for k, v in (("memory_limit_mb", memory_limit_mb), ("max_processes", max_processes))
              if v is not None}
    if (directory / "study.json").exists():
        study = Study.load(directory)
        if limits:
            study.settings.update(limits)
            study.save()
    else:
        study = Study.new(directory, name=name, rater_group=rater_group,
                          coordinator_group=coordinator_group, idle_timeout=idle_timeout, **limits)
    for group in (study.rater_group, study.coordinator_group):
        ensure_group(group)
    ensure_label_account(study)
    _write_hub_files(study)
    prepare_runtime(study)
    compile_bytecode()  # raters' servers and kernels then do not compile covsev at every start
    _write_app(study)
    for cohort in cohorts:
        add_cohort(study, cohort)
    write_coordinator_notebooks(study)
    apply_permissions(study)
    study.protected_sources = protect_cohort_sources(study)
    check_study_account(study)  # refuse now, not at every rater's login
    return study


def _write_hub_files(study: Study) -> None:
    study.hub_dir.mkdir(mode=0o700, exist_ok=True)
    write_text_atomic(study.hub_dir / "jupyterhub_config.py", HUB_CONFIG)
    secret = study.hub_dir / "jupyterhub_cookie_secret"
    if not secret.exists():
        fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(os.urandom(32).hex() + "\n")
    _session(study).close()  # creates the database (mode 0600) with the authenticator's table


def _write_app(study: Study) -> None:
    import nbformat

    study.rater_config_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(study.rater_config_dir / "jupyter_server_config.py", RATER_SERVER_CONFIG)
    # jupyter_core writes this marker once per config folder; raters cannot write here, so say it is done.
    write_text_atomic(study.rater_config_dir / "migrated", "covsev\n")
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(_SCORING_CELL)]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    write_text_atomic(study.app_dir / SCORING_NOTEBOOK, nbformat.writes(notebook))
    _write_coordinator_tools(study)


def _write_coordinator_tools(study: Study) -> None:
    """``app/bin/covsev`` (on coordinators' PATH) and JupyterLab settings that fetch nothing online."""
    import json

    from covsev_tools.hub.runtime import rater_python

    (study.app_dir / "bin").mkdir(exist_ok=True)
    # The study's interpreter (one every account can run), not this environment's console script,
    # whose first line may name a Python only root can reach.
    write_text_atomic(study.app_dir / "bin" / "covsev",
                      f'#!/bin/sh\nexec {shlex.quote(rater_python(study))} -m covsev_tools.cli "$@"\n')
    # The coordinators' server config (root-owned: JUPYTER_CONFIG_DIR of their servers). Its terminal
    # runs bash as a non-login shell with our rc file: a login shell would read /etc/profile, whose
    # PATH drops app/bin, and would start in the home folder rather than the study folder.
    config = study.app_dir / "coordinator"
    config.mkdir(exist_ok=True)
    write_text_atomic(config / "bashrc", COORDINATOR_BASHRC.format(bin=shlex.quote(str(study.app_dir / "bin"))))
    write_text_atomic(config / "jupyter_server_config.py", COORDINATOR_SERVER_CONFIG.format(
        rcfile=str(config / "bashrc")))
    write_text_atomic(config / "migrated", "covsev\n")
    settings = study.app_dir / "lab-settings"
    settings.mkdir(exist_ok=True)
    overrides = {"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False}}
    write_text_atomic(settings / "overrides.json", json.dumps(overrides, indent=1) + "\n")


def add_cohort(study: Study, cohort_dir) -> str:
    """Copy a cohort folder into ``cohorts/<name>/`` of the study (reading orders excepted); its name.

    The copy is what raters see; the coordinator's reading orders for the study are made there.
    A training set the cohort requires (``covsev training require``) is copied into ``training/``.

    Examples
    --------
    >>> add_cohort(Study.load("/srv/study"), "cohorts/extra")        # doctest: +SKIP
    'extra'
    """
    from covsev_tools.cohort import Cohort

    cohort = Cohort.load(cohort_dir)
    target = study.dir / "cohorts" / cohort.name
    if cohort.dir.resolve() != target.resolve():
        shutil.copytree(cohort.dir, target, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns(".create.lock", "orders", "*.tmp"))
        _no_paths_for_raters(target)
        study.settings.setdefault("cohort_sources", {})[cohort.name] = str(cohort.dir.resolve())
    study.settings["cohorts"][cohort.name] = f"cohorts/{cohort.name}"
    study.save()
    bring_training(study, target)  # a required training round comes along (raters need it first)
    return cohort.name


def _no_paths_for_raters(folder: Path) -> None:
    """Move the seed and source paths of an older cohort's ``cohort.json`` (raters read it) to ``secret.json``."""
    import json

    from covsev_tools.cohort.folder import coordinator_only
    from covsev_tools.cohort.info import read_info, read_secret, secret_text

    info = read_info(folder / "cohort.json")
    moved = {k: info.pop(k) for k in ("seed", "source_images_dir", "metadata_csv") if k in info}
    if not moved:
        return
    secret = {**moved, **read_secret(folder, {**info, **moved})}
    with coordinator_only(folder):
        write_text_atomic(folder / "secret.json", secret_text(secret["seed"], secret.get("source_images_dir"),
                                                              secret.get("metadata_csv")))
    write_text_atomic(folder / "cohort.json", json.dumps(info, indent=1) + "\n")


def protect_cohort_sources(study: Study) -> list[Path]:
    """Close the key, repeat map and seed of the study's source cohort folders to other accounts; what changed.

    ``hub init`` copies each cohort, and the copy's modes are the study's; but the folder it was
    copied from keeps the key where ``covsev cohort create`` (before 0600 keys) or a copy by hand left
    it. Files any account could read become 0600 and the folder loses the rights of "others".

    Examples
    --------
    >>> protect_cohort_sources(Study.load("/srv/study"))        # doctest: +SKIP
    [PosixPath('/data/cohorts/pilot/key.csv')]
    """
    from covsev_tools.cohort.folder import exposed_coordinator_files

    fixed: list[Path] = []
    for source in study.settings.get("cohort_sources", {}).values():
        folder = Path(source)
        for path in exposed_coordinator_files(folder):
            os.chmod(path, 0o600)
            fixed.append(path)
        try:
            mode = folder.stat().st_mode & 0o7777
        except OSError:
            continue
        if mode & 0o007:
            os.chmod(folder, mode & ~0o007)
            fixed.append(folder)
    return fixed


def add_user(study_dir, name: str, role: str, password: str | None = None) -> str | None:
    """Create a study account: Unix account (no login shell), hashed hub password, role.

    Returns
    -------
    str or None
        The generated password when none was given (shown once, stored only hashed), else None.

    Examples
    --------
    >>> add_user("/srv/study", "rad1", "rater")        # doctest: +SKIP
    'q3Rk0yT9vX2mP8sL'
    """
    _require_root("covsev hub add-user")
    study = Study.load(study_dir)
    validate_user_name(name)
    if role not in ("rater", "coordinator"):
        raise StudyError(f"role {role!r}: use rater or coordinator")
    if study.role(name) not in (None, role):
        raise StudyError(f"{name} is already a {study.role(name)} of this study")
    generated = new_password() if password is None else None
    ensure_unix_account(study, name, role)
    set_password(study, name, password if password is not None else generated)
    study.add_member(name, role)
    apply_permissions(study)
    return generated


def remove_user(study_dir, name: str) -> None:
    """Remove an account from the study and delete its Unix account; its label logs are kept.

    Examples
    --------
    >>> remove_user("/srv/study", "rad1")        # doctest: +SKIP
    """
    _require_root("covsev hub remove-user")
    study = Study.load(study_dir)
    if study.member(name) is None:
        raise StudyError(f"{name} is not a user of this study")
    try:
        uid = pwd.getpwnam(name).pw_uid
    except KeyError:
        uid = 0
    if uid != 0:  # userdel refuses an account that still runs a process (a rater's detached one)
        end_account_processes(uid)
        remove_cgroup(account_cgroup(uid))  # the spawner's stop cannot find the uid once the account is gone
    remove_unix_account(study, name)
    del study.users["users"][name]
    study.save()
    session = _session(study)
    try:
        from nativeauthenticator.orm import UserInfo

        session.query(UserInfo).filter(UserInfo.username == name).delete()
        session.commit()
    finally:
        session.close()


def assign(study_dir, name: str, cohort: str, *, block_size: int | None = None) -> None:
    """Give rater ``name`` a cohort of the study to score (their page opens it at next login).

    Run as root, this also makes their reading order and label log now (else the hub does at their
    next login), so ``hub status`` counts them at once. ``block_size`` sets the cohort's blocked
    design (see :func:`covsev_tools.cohort.orders.build_blocked_order`) before any order is made.

    Examples
    --------
    >>> assign("/srv/study", "rad1", "pilot", block_size=10)        # doctest: +SKIP
    """
    from covsev_tools.cohort.orders import write_design

    study = Study.load(study_dir)
    if block_size is not None:
        write_design(study.cohort_dir(cohort), block_size)
    study.assign(name, cohort)
    if os.geteuid() == 0:
        prepare_rater(study, name, cohort)


def finish(study_dir, name: str, cohort: str) -> None:
    """Mark rater ``name``'s assignment of ``cohort`` finished.

    Examples
    --------
    >>> finish("/srv/study", "rad1", "pilot")        # doctest: +SKIP
    """
    Study.load(study_dir).finish(name, cohort)
