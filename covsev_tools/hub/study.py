"""The study folder: one directory holding everything a JupyterHub reader study needs.

Layout (modes are set by :mod:`covsev_tools.hub.permissions`)::

    study.json        settings: name, Unix group names, cohorts, idle timeout      (coordinators)
    users.json        accounts: role and cohort assignments per user              (coordinators)
    hub/              JupyterHub's configuration, database and cookie secret      (root only)
    app/              the scoring notebook and the rater servers' Jupyter config   (raters, read)
    cohorts/<name>/   the blinded cohorts; key.csv and repeats.csv coordinators only
    training/<set>/   training sets the cohorts require (reference readable by raters)
    labels/<cohort>/<rater>.jsonl   each rater's label log, written by that rater only
    outputs/          model outputs, reports                                      (coordinators)
    homes/<user>/     the study's Unix accounts' home folders

Examples
--------
>>> import tempfile
>>> study = Study.new(tempfile.mkdtemp(), name="pilot")
>>> study.settings["cohorts"]["cohort-a"] = "cohorts/cohort-a"
>>> study.add_member("rad1", "rater")
>>> study.assign("rad1", "cohort-a")
>>> study.active_cohort("rad1")
'cohort-a'
"""
from __future__ import annotations

import datetime as _dt
import json
import re
from pathlib import Path

import jsonschema

from covsev_tools.cohort.ids import RESERVED_RATERS
from covsev_tools.errors import CovsevError
from covsev_tools.files import write_text_atomic

__all__ = ["DEFAULT_LIMITS", "ROLES", "Study", "StudyError", "validate_user_name"]

SCHEMA_VERSION = 1
ROLES = ("rater", "coordinator")
#: A hub user is also a Unix account and a rater ID: lower case, starting with a letter, at most 32.
USER_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")

_SETTINGS_SCHEMA = {
    "type": "object",
    "required": ["schema", "name", "rater_group", "coordinator_group", "cohorts", "idle_timeout"],
    "properties": {
        "schema": {"const": SCHEMA_VERSION},
        "name": {"type": "string", "minLength": 1},
        "rater_group": {"type": "string", "pattern": USER_NAME_PATTERN.pattern},
        "coordinator_group": {"type": "string", "pattern": USER_NAME_PATTERN.pattern},
        "cohorts": {"type": "object", "additionalProperties": {"type": "string"}},
        # where each cohort was copied from (hub init and start keep its key closed to other accounts)
        "cohort_sources": {"type": "object", "additionalProperties": {"type": "string"}},
        "idle_timeout": {"type": "integer", "minimum": 60},
        # per process of a study server (the server, each kernel); absent in studies made before
        "memory_limit_mb": {"type": "integer", "minimum": 256},
        "max_processes": {"type": "integer", "minimum": 32},
    },
}
#: Limits of every study server when ``study.json`` names none (``hub init --memory-limit/--max-processes``).
DEFAULT_LIMITS = {"memory_limit_mb": 2048, "max_processes": 256}
_USERS_SCHEMA = {
    "type": "object",
    "required": ["users"],
    "properties": {"users": {"type": "object", "additionalProperties": {
        "type": "object",
        "required": ["role", "assignments"],
        "properties": {
            "role": {"enum": list(ROLES)},
            "assignments": {"type": "array", "items": {
                "type": "object", "required": ["cohort", "status"],
                "properties": {"cohort": {"type": "string"}, "status": {"enum": ["active", "finished"]}},
            }},
        },
    }}},
}


class StudyError(CovsevError):
    """A study folder that is missing, malformed, or asked to do something it cannot."""


def _check_settings(settings: dict) -> None:
    try:
        jsonschema.validate(settings, _SETTINGS_SCHEMA)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "settings"
        raise StudyError(f"study settings: {where}: {exc.message}") from None


def validate_user_name(name: str) -> str:
    """Return ``name`` if it can be a hub user, a Unix account and a rater ID at once.

    Examples
    --------
    >>> validate_user_name("rad1")
    'rad1'
    >>> validate_user_name("Rad1")
    Traceback (most recent call last):
    ...
    covsev_tools.hub.study.StudyError: user name 'Rad1': use 1-32 lower-case letters, digits, '_' or '-', starting with a letter
    """
    if not isinstance(name, str) or not USER_NAME_PATTERN.match(name):
        raise StudyError(f"user name {name!r}: use 1-32 lower-case letters, digits, '_' or '-', "
                         "starting with a letter")
    if name in RESERVED_RATERS:  # the consensus log's name: an account of it would own that log
        raise StudyError(f"user name {name!r} is reserved (the consensus of adjudicated cases)")
    return name


def _read_json(path: Path, schema: dict) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StudyError(f"{path.parent}: not a study folder (no {path.name}); "
                         "make one with `covsev hub init`") from None
    except (OSError, ValueError) as exc:
        raise StudyError(f"{path}: cannot read ({exc})") from None
    try:
        jsonschema.validate(data, schema)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "top level"
        raise StudyError(f"{path}: {where}: {exc.message}") from None
    return data


class Study:
    """A study folder's settings and accounts (``study.json``, ``users.json``).

    Open one with :meth:`load`; make one with :meth:`new` (or ``covsev hub init``). Changes are
    written at once, atomically.
    """

    def __init__(self, directory: str | Path, settings: dict, users: dict):
        self.dir = Path(directory).resolve()
        self.settings = settings
        self.users = users
        #: What :func:`covsev_tools.hub.admin.protect_cohort_sources` closed on the last ``hub init``.
        self.protected_sources: list[Path] = []

    # -- files and folders

    @property
    def hub_dir(self) -> Path:
        """Root-only folder: the hub's configuration, database and cookie secret."""
        return self.dir / "hub"

    @property
    def app_dir(self) -> Path:
        """Folder a rater's server serves: the scoring notebook only."""
        return self.dir / "app"

    @property
    def rater_config_dir(self) -> Path:
        """``JUPYTER_CONFIG_DIR`` of every rater server (root-owned, so a rater cannot change it)."""
        return self.app_dir / "config"

    @property
    def labels_dir(self) -> Path:
        """Root of the label store: ``labels/<cohort>/<rater>.jsonl``."""
        return self.dir / "labels"

    @property
    def training_root(self) -> Path:
        """Training sets the study's cohorts require, copied in by ``hub init``: ``training/<set>/``."""
        return self.dir / "training"

    @property
    def outputs_dir(self) -> Path:
        """Coordinator-only outputs (model predictions, reports)."""
        return self.dir / "outputs"

    @property
    def homes_dir(self) -> Path:
        """Home folders of the study's Unix accounts."""
        return self.dir / "homes"

    def cohort_dir(self, cohort: str) -> Path:
        """Folder of a cohort of this study."""
        if cohort not in self.settings["cohorts"]:
            raise StudyError(f"{self.dir}: no cohort {cohort!r} in this study "
                             f"(known: {', '.join(sorted(self.settings['cohorts'])) or 'none'})")
        return self.dir / self.settings["cohorts"][cohort]

    @property
    def name(self) -> str:
        """Study name (shown on the hub's pages)."""
        return self.settings["name"]

    def limit(self, name: str) -> int:
        """A per-server limit: ``"memory_limit_mb"`` or ``"max_processes"`` (the default when not set)."""
        return int(self.settings.get(name, DEFAULT_LIMITS[name]))

    @property
    def rater_group(self) -> str:
        """Unix group of every account of the study (raters and coordinators)."""
        return self.settings["rater_group"]

    @property
    def coordinator_group(self) -> str:
        """Unix group of the coordinators: reads the key, repeat maps, outputs and all label logs."""
        return self.settings["coordinator_group"]

    # -- loading and saving

    @classmethod
    def new(cls, directory: str | Path, name: str | None = None, rater_group: str = "covsev-raters",
            coordinator_group: str = "covsev-coordinators", idle_timeout: int = 3600,
            memory_limit_mb: int = DEFAULT_LIMITS["memory_limit_mb"],
            max_processes: int = DEFAULT_LIMITS["max_processes"]) -> "Study":
        """A new study's settings, written to ``directory`` (made if missing; refused if a study is there)."""
        directory = Path(directory)
        if (directory / "study.json").exists():
            raise StudyError(f"{directory}: already a study folder")
        directory.mkdir(parents=True, exist_ok=True)
        settings = {"schema": SCHEMA_VERSION, "name": name or directory.resolve().name,
                    "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                    "rater_group": validate_user_name(rater_group),
                    "coordinator_group": validate_user_name(coordinator_group),
                    "cohorts": {}, "idle_timeout": int(idle_timeout),
                    "memory_limit_mb": int(memory_limit_mb), "max_processes": int(max_processes)}
        _check_settings(settings)
        study = cls(directory, settings, {"users": {}})
        study.save()
        return study

    @classmethod
    def load(cls, directory: str | Path) -> "Study":
        """Open a study folder, checking both files against their schema."""
        directory = Path(directory)
        settings = _read_json(directory / "study.json", _SETTINGS_SCHEMA)
        users = _read_json(directory / "users.json", _USERS_SCHEMA)
        return cls(directory, settings, users)

    def save(self) -> None:
        """Write ``study.json`` and ``users.json`` atomically (settings checked first: nothing written if wrong)."""
        _check_settings(self.settings)
        write_text_atomic(self.dir / "study.json", json.dumps(self.settings, indent=1) + "\n")
        write_text_atomic(self.dir / "users.json", json.dumps(self.users, indent=1, sort_keys=True) + "\n")

    # -- accounts and assignments

    def member(self, name: str) -> dict | None:
        """The account entry of ``name`` (role, assignments), or None."""
        return self.users["users"].get(name)

    def role(self, name: str) -> str | None:
        """``"rater"``, ``"coordinator"`` or None for a name that is not in the study."""
        entry = self.member(name)
        return entry["role"] if entry else None

    def members(self, role: str | None = None) -> list[str]:
        """Sorted user names, of one role or all."""
        return sorted(n for n, e in self.users["users"].items() if role is None or e["role"] == role)

    def add_member(self, name: str, role: str) -> None:
        """Record an account (no Unix account, no password: see :func:`covsev_tools.hub.add_user`)."""
        validate_user_name(name)
        if role not in ROLES:
            raise StudyError(f"role {role!r}: use one of {', '.join(ROLES)}")
        entry = self.member(name)
        if entry and entry["role"] != role:
            raise StudyError(f"{name} is already a {entry['role']} of this study")
        if not entry:
            self.users["users"][name] = {"role": role, "assignments": []}
            self.save()

    def assign(self, name: str, cohort: str) -> None:
        """Give rater ``name`` the cohort to score (active); earlier active cohorts stay active."""
        self.cohort_dir(cohort)
        entry = self._rater(name)
        if not any(a["cohort"] == cohort for a in entry["assignments"]):
            entry["assignments"].append({"cohort": cohort, "status": "active"})
        else:
            self._assignment(name, cohort)["status"] = "active"
        self.save()

    def finish(self, name: str, cohort: str) -> None:
        """Mark rater ``name``'s assignment of ``cohort`` finished: their page no longer opens it."""
        self._assignment(name, cohort)["status"] = "finished"
        self.save()

    def active_cohort(self, name: str) -> str | None:
        """The cohort rater ``name`` scores now (the first active assignment), or None."""
        entry = self.member(name) or {"assignments": []}
        return next((a["cohort"] for a in entry["assignments"] if a["status"] == "active"), None)

    def _rater(self, name: str) -> dict:
        entry = self.member(name)
        if not entry:
            raise StudyError(f"{name} is not a user of this study; add them with `covsev hub add-user`")
        if entry["role"] != "rater":
            raise StudyError(f"{name} is a {entry['role']}, not a rater")
        return entry

    def _assignment(self, name: str, cohort: str) -> dict:
        for assignment in self._rater(name)["assignments"]:
            if assignment["cohort"] == cohort:
                return assignment
        raise StudyError(f"{name} has no assignment of cohort {cohort!r}")

    def __repr__(self) -> str:
        return f"Study({str(self.dir)!r}, {len(self.users['users'])} users)"
