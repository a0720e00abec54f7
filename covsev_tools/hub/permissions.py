"""Ownership and modes of a study folder: the operating system keeps the study blind.

Two Unix groups: the *rater group* (every account of the study, coordinators included) and the
*coordinator group*. Raters are "others" for everything the coordinators own, so:

- a rater reads ``app/``, ``cohort.json``, ``manifest.csv`` and ``cases/*.png`` (rater group);
- ``key.csv``, ``repeats.csv``, ``outputs/``, ``users.json`` and any file covsev does not know are
  coordinator-only (default deny);
- ``orders/`` and ``labels/<cohort>/`` are searchable but not listable by raters; inside, each
  rater's reading order and label log belong to the label service's account
  (:mod:`covsev_tools.hub.labelservice`; mode 0640, group coordinators): the rater's page reads and
  saves through that service, and the rater's account can neither read, write, lock nor chmod
  either file; the log is append-only too (``chattr +a``, where the filesystem has it);
- a training round's order and log (``labels/_training/<set>/``) the same: the label service's;
- ``hub/`` (database, cookie secret) is root's alone.

Examples
--------
>>> from covsev_tools.hub.study import Study
>>> apply_permissions(Study.load("study"))            # doctest: +SKIP
"""
from __future__ import annotations

import fcntl
import grp
import os
import pwd
import stat
import struct
from pathlib import Path

from covsev_tools.cohort.ids import CONSENSUS_RATER
from covsev_tools.hub.study import Study
from covsev_tools.scoring.training import (HISTORY_FOLDER, REQUIREMENT_FILE, TRAINING_FILE, TRAINING_LABELS,
                                           training_requirement)

__all__ = ["append_only", "apply_permissions", "consensus_log", "exposed_originals", "prepare_rater",
           "prepare_training", "release_append_only"]

#: Files of a cohort or training set folder a rater reads (the training set's reference is shown
#: after each case by design; the study's requirement says which round opens the study).
RATER_FILES = ("cohort.json", "manifest.csv", TRAINING_FILE, REQUIREMENT_FILE)
# Linux's inode flags (linux/fs.h): FS_IOC_GETFLAGS/SETFLAGS and the append-only flag (chattr +a).
_GETFLAGS, _SETFLAGS, _APPEND = 0x80086601, 0x40086602, 0x00000020


def _flags(path: Path) -> int | None:
    """The file's inode flags, or None where the filesystem has none (tmpfs before Linux 6.0, NFS)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        return struct.unpack("i", fcntl.ioctl(fd, _GETFLAGS, struct.pack("i", 0)))[0]
    except OSError:
        return None
    finally:
        os.close(fd)


def append_only(path: Path, on: bool = True) -> bool:
    """Set (or clear) a file's append-only flag (``chattr +a``); False where the filesystem cannot. Root only.

    An append-only log can be appended to by its owner and by nobody else changed: not rewritten,
    truncated, renamed, deleted, or given another mode or owner -- not even by root until the flag
    is cleared. This is what keeps a rater from changing a save they confirmed.

    Examples
    --------
    >>> append_only(Path("labels/pilot/rad1.jsonl"))       # doctest: +SKIP
    True
    """
    flags = _flags(path)
    if flags is None:
        return False
    wanted = flags | _APPEND if on else flags & ~_APPEND
    if wanted == flags:
        return True
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    try:
        fcntl.ioctl(fd, _SETFLAGS, struct.pack("i", wanted))
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def release_append_only(folder: Path) -> None:
    """Clear the append-only flag of every log under ``folder`` (before deleting or moving a study). Root only.

    Examples
    --------
    >>> release_append_only(Path("/srv/study/labels"))      # doctest: +SKIP
    """
    for root, _dirs, files in os.walk(folder):
        for name in files:
            path = Path(root) / name
            if not path.is_symlink():
                append_only(path, on=False)


def _gid(name: str) -> int:
    return grp.getgrnam(name).gr_gid


def _set(path: Path, uid: int, gid: int, mode: int) -> None:
    os.lchown(path, uid, gid)
    if not path.is_symlink():
        os.chmod(path, mode)


def _tree(path: Path, uid: int, gid: int, dir_mode: int, file_mode: int) -> None:
    """Everything under ``path`` (included) to one owner, directories and files to one mode each."""
    _set(path, uid, gid, dir_mode)
    for root, dirs, files in os.walk(path):
        for name in dirs:
            _set(Path(root) / name, uid, gid, dir_mode)
        for name in files:
            _set(Path(root) / name, uid, gid, file_mode)


def apply_permissions(study: Study) -> None:
    """Set owner, group and mode of every part of the study folder (idempotent; run as root).

    Examples
    --------
    >>> apply_permissions(Study.load("study"))      # doctest: +SKIP
    """
    raters, coordinators = _gid(study.rater_group), _gid(study.coordinator_group)
    for folder in (study.hub_dir, study.app_dir, study.labels_dir, study.outputs_dir,
                   study.homes_dir, study.dir / "cohorts", study.training_root):
        folder.mkdir(exist_ok=True)
    # setgid: files coordinators write here (assignments) stay in their group.
    _set(study.dir, 0, coordinators, 0o2771)
    for name in ("study.json", "users.json"):
        _set(study.dir / name, 0, coordinators, 0o660)
    _tree(study.hub_dir, 0, 0, 0o700, 0o600)
    _tree(study.app_dir, 0, raters, 0o750, 0o640)
    if (study.app_dir / "bin" / "covsev").is_file():  # coordinators' covsev command (runs with their rights)
        _set(study.app_dir / "bin" / "covsev", 0, raters, 0o750)
    for notebook in study.dir.glob("*.ipynb"):  # the coordinators' notebooks (never for raters)
        _set(notebook, 0, coordinators, 0o660)
    _tree(study.outputs_dir, 0, coordinators, 0o2770, 0o660)
    _set(study.homes_dir, 0, 0, 0o711)
    _set(study.dir / "cohorts", 0, raters, 0o750)
    _set(study.training_root, 0, raters, 0o750)
    for cohort in study.settings["cohorts"]:
        _cohort_permissions(study.cohort_dir(cohort), raters, coordinators, study.members(), _label_uid())
    for folder in study.training_root.iterdir():
        if folder.is_dir() and not folder.is_symlink():
            _cohort_permissions(folder, raters, coordinators, study.members(), _label_uid())
    _labels_permissions(study, coordinators)


def _cohort_permissions(folder: Path, raters: int, coordinators: int, members: list[str],
                        order_owner: int) -> None:
    _tree(folder, 0, coordinators, 0o750, 0o640)  # default deny, then open what raters need
    _set(folder, 0, raters, 0o750)
    for name in RATER_FILES:
        if (folder / name).exists():
            _set(folder / name, 0, raters, 0o640)
    if (folder / "cases").is_dir():
        _tree(folder / "cases", 0, raters, 0o750, 0o640)
    orders = folder / "orders"
    if orders.is_dir():
        _set(orders, 0, coordinators, 0o751)
        for path in orders.glob("*.json"):
            _own_by_user(path, coordinators, members, order_owner)


def _label_uid() -> int:
    """The label service account's uid; root's where it does not exist yet (then nobody but root writes)."""
    from covsev_tools.hub.labelservice import LABEL_ACCOUNT

    try:
        return pwd.getpwnam(LABEL_ACCOUNT).pw_uid
    except KeyError:
        return 0


def _labels_permissions(study: Study, coordinators: int) -> None:
    """``labels/``: the raters' logs (study and training) are the label service's; everything else root's.

    Re-run by every ``hub init`` and ``hub start``, so it must give back exactly what the study
    needs: the raters' logs stay theirs (training logs included), earlier training attempts and
    the consensus stay out of their reach.
    """
    _set(study.labels_dir, 0, coordinators, 0o751)
    for cohort in study.settings["cohorts"]:  # made here so the coordinators' consensus can be saved
        (study.labels_dir / cohort).mkdir(exist_ok=True)
    members = study.members()
    for folder in study.labels_dir.iterdir():
        if not folder.is_dir() or folder.is_symlink():
            _set(folder, 0, coordinators, 0o640)  # nothing of a rater's lives here
        elif folder.name == TRAINING_LABELS:
            _set(folder, 0, coordinators, 0o751)
            for training in folder.iterdir():
                if training.is_dir() and not training.is_symlink():
                    _log_folder_permissions(training, coordinators, members, owner=_label_uid())
                else:
                    _own_log(training, coordinators, members, _label_uid())
        else:
            _log_folder_permissions(folder, coordinators, members, owner=_label_uid())
            consensus_log(study, folder.name)


def _log_folder_permissions(folder: Path, coordinators: int, members: list[str], owner: int) -> None:
    _set(folder, 0, coordinators, 0o751)
    for path in folder.iterdir():
        if path.name == HISTORY_FOLDER and path.is_dir() and not path.is_symlink():
            release_append_only(path)  # earlier training attempts: root's, out of every rater's reach
            _tree(path, 0, coordinators, 0o750, 0o640)
        elif path.name != f"{CONSENSUS_RATER}.jsonl":
            _own_log(path, coordinators, members, owner)


def consensus_log(study: Study, cohort: str) -> Path:
    """The cohort's consensus log, made by the hub side: root:coordinators 0660, raters no access.

    Coordinators adjudicate from their own accounts; they append to this file but cannot create
    files in ``labels/<cohort>/`` (raters' logs must not be replaced), so it is made here.

    Examples
    --------
    >>> consensus_log(Study.load("study"), "pilot")      # doctest: +SKIP
    PosixPath('/srv/study/labels/pilot/consensus.jsonl')
    """
    coordinators = _gid(study.coordinator_group)
    log = study.labels_dir / cohort / f"{CONSENSUS_RATER}.jsonl"
    if log.is_symlink():
        log.unlink()  # nobody but root can put one there; never follow it
    os.close(os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o660))
    append_only(log, on=False)  # the flag blocks chown/chmod; set again at once
    _set(log, 0, coordinators, 0o660)
    append_only(log)
    return log


def _own_log(path: Path, coordinators: int, members: list[str], owner: int) -> None:
    """A label log: owner and mode as :func:`_own_by_user`, then append-only (the flag blocks chown/chmod)."""
    if path.is_symlink() or not path.is_file():
        _own_by_user(path, coordinators, members, owner)
        return
    append_only(path, on=False)
    _own_by_user(path, coordinators, members, owner)
    append_only(path)


def _own_by_user(path: Path, coordinators: int, members: list[str], owner: int) -> None:
    """``<user>.json(l)`` of a study user belongs to ``owner``, the label service (0640, group
    coordinators): never to the user, whose page reads and saves through the service. Anything else root's."""
    if path.is_symlink() or not path.is_file():
        _set(path, 0, coordinators, 0o750)
        return
    _set(path, owner if path.stem in members else 0, coordinators, 0o640)


def prepare_rater(study: Study, name: str, cohort: str) -> None:
    """Make ``name``'s reading order and empty label log for ``cohort``, owned by the label service (run as root).

    Nobody but root creates files in ``orders/`` and ``labels/<cohort>/``, so both files are made
    here, before the rater's server starts (an order extended by cases added since included); the
    label service reads and appends to them, the rater's account cannot.

    Examples
    --------
    >>> prepare_rater(Study.load("study"), "rad1", "pilot")      # doctest: +SKIP
    """
    from covsev_tools.cohort import Cohort

    coordinators = _gid(study.coordinator_group)
    loaded = Cohort.load(study.cohort_dir(cohort))
    loaded.reading_order(name)
    _set(loaded.dir / "orders", 0, coordinators, 0o751)
    _own_by_user(loaded.dir / "orders" / f"{name}.json", coordinators, [name], _label_uid())
    folder = study.labels_dir / loaded.name
    folder.mkdir(parents=True, exist_ok=True)
    _set(folder, 0, coordinators, 0o751)
    log = folder / f"{name}.jsonl"
    os.close(os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640))
    _own_log(log, coordinators, [name], _label_uid())
    requirement = training_requirement(loaded.dir)
    if requirement is not None:
        prepare_training(study, name, requirement["training_set"])


def prepare_training(study: Study, name: str, training_dir) -> None:
    """Make ``name``'s reading order and empty log of a training round, owned by the label service (run as root).

    As for a study (:func:`prepare_rater`): the rater can create nothing in ``orders/`` or
    ``labels/_training/<set>/``; an existing log (a round under way, passed or failed) is kept.

    Examples
    --------
    >>> prepare_training(Study.load("study"), "rad1", "/srv/study/training/calib")   # doctest: +SKIP
    """
    from covsev_tools.scoring.training import TrainingSet

    coordinators = _gid(study.coordinator_group)
    training = TrainingSet.load(training_dir)
    training.cohort.reading_order(name)
    _set(training.cohort.dir / "orders", 0, coordinators, 0o751)
    _own_by_user(training.cohort.dir / "orders" / f"{name}.json", coordinators, [name], _label_uid())
    folder = study.labels_dir / TRAINING_LABELS
    folder.mkdir(exist_ok=True)
    _set(folder, 0, coordinators, 0o751)
    store = training.store(study.labels_dir)
    store.folder.mkdir(exist_ok=True)
    _set(store.folder, 0, coordinators, 0o751)
    log = store.path_for(name)
    os.close(os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o640))
    _own_log(log, coordinators, [name], _label_uid())


def exposed_originals(study: Study) -> list[Path]:
    """Folders of a cohort's original images that any account of the machine can read.

    The key is coordinator-only, but the originals usually live outside the study folder; if
    "others" can search every folder above a file and read it, a rater who guesses its path can
    open it. ``hub init`` and ``hub status`` print these.

    Examples
    --------
    >>> exposed_originals(Study.load("study"))      # doctest: +SKIP
    [PosixPath('/data/originals')]
    """
    from covsev_tools.cohort import Cohort

    exposed: set[Path] = set()
    for cohort in study.settings["cohorts"]:
        try:
            paths = Cohort.load(study.cohort_dir(cohort)).key()["path"]
        except Exception:  # a cohort without a readable key has nothing to expose here
            continue
        for value in paths:
            if value and _readable_by_others(Path(value)):
                exposed.add(Path(value).parent)
    return sorted(exposed)


def _readable_by_others(path: Path) -> bool:
    try:
        if not path.is_absolute() or not stat.S_IMODE(path.stat().st_mode) & stat.S_IROTH:
            return False
    except OSError:
        return False
    return all(stat.S_IMODE(p.stat().st_mode) & stat.S_IXOTH for p in path.parents)
