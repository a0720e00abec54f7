"""Crash-safe, per-rater, append-only label store.

Each rater's saves go to ``<labels_dir>/<cohort>/<rater>.jsonl``: one JSON object per line, one
line per save.  A save is a single ``os.write`` on an ``O_APPEND`` descriptor while holding an
exclusive ``fcntl.flock``, followed by ``fsync`` -- only then does :meth:`LabelStore.save` return,
so a save the app confirms is on disk.  Two raters, or two browser tabs of the same rater, cannot
interleave bytes because every writer takes the same lock on the same file.

What is read back is only what is valid (:mod:`covsev_tools.labels.records`): a torn last line
left by a crash, a hand-edited record with a bad value, or a record whose ``rater`` is not the
log it sits in is left out and listed in :attr:`LabelStore.warnings` (never fatal, never merged);
the next append starts with a newline when the file does not end with one, so a new record never
glues onto a fragment.  Re-scoring a case appends a new record; the latest one wins (by its own
``time_saved``, then its line in the log) and the history stays for audit.

Examples
--------
>>> import tempfile
>>> store = LabelStore(tempfile.mkdtemp(), "pilot")
>>> saved = store.save({"rater": "rad1", "case_id": "c1",
...                     "scales": {"extent": {"version": "1", "scores": {"right": 2, "left": 3}, "total": 5}}})
>>> int(store.totals("extent").loc["c1", "rad1"])
5
"""
from __future__ import annotations

import fcntl
import json
import os
import stat
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from covsev_tools.cohort.ids import RATER_ID_PATTERN, RaterIdError, validate_rater_id  # one rule, upstream
from covsev_tools.files import fsync_path
from covsev_tools.labels.records import MAX_LINE_BYTES, SCHEMA_VERSION, LogEntry, RecordProblem, check_record, iter_log
from covsev_tools.labels.tidy import long_frame

__all__ = ["LABELS_DIR_ENV", "LOCK_TIMEOUT", "LabelStore", "lock_holder", "RaterIdError", "StoreError", "default_labels_dir", "utc_now",
           "validate_rater_id"]

LABELS_DIR_ENV = "COVSEV_LABELS_DIR"
#: Seconds a save or a read waits for a log's lock. A save takes milliseconds; a lock held longer is
#: a hung or hostile process (a rater can hold a lock on their own log from a detached process).
LOCK_TIMEOUT = 5.0


class StoreError(Exception):
    """A label store problem the user can act on (unwritable folder, a record that is not valid...)."""


def default_labels_dir() -> Path:
    """The labels folder: ``$COVSEV_LABELS_DIR`` when set, else ``labels/``.

    Examples
    --------
    >>> import os
    >>> os.environ.pop(LABELS_DIR_ENV, None) and None
    >>> default_labels_dir()
    PosixPath('labels')
    """
    return Path(os.environ.get(LABELS_DIR_ENV) or "labels")


def utc_now() -> str:
    """Current time as ISO 8601 UTC with milliseconds, e.g. ``2026-01-01T10:00:00.123Z``.

    Examples
    --------
    >>> stamp = utc_now()
    >>> stamp.endswith("Z") and len(stamp) == 24
    True
    """
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def lock_holder(path: Path) -> str:
    """Who holds a ``flock`` on ``path``, from ``/proc/locks``: e.g. ``'process 4242 of rad1'``.

    Examples
    --------
    >>> import tempfile
    >>> lock_holder(Path(tempfile.mkstemp()[1]))
    'no process found'
    """
    try:
        info = os.stat(path)
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return "a process that cannot be named here"
    wanted = f"{os.major(info.st_dev):02x}:{os.minor(info.st_dev):02x}:{info.st_ino}"
    for line in lines:
        fields = line.replace("->", "").split()
        if len(fields) >= 6 and fields[5] == wanted:
            pid = fields[4]
            try:
                import pwd

                owner = pwd.getpwuid(os.stat(f"/proc/{pid}").st_uid).pw_name
            except (OSError, KeyError):
                owner = "an unknown account"
            return f"process {pid} of {owner}"
    return "no process found"


def _lock(fd: int, kind: int, timeout: float) -> bool:
    """Take a ``flock`` within ``timeout`` seconds; False if it stayed held by another process."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, kind | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)


def _append_line(path: Path, payload: bytes) -> None:
    """Append ``payload`` (one JSON line) to ``path``, durably, under an exclusive lock."""
    created = not path.exists()
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        if not _lock(fd, fcntl.LOCK_EX, LOCK_TIMEOUT):
            raise StoreError(f"could not save to {path}: locked by {lock_holder(path)} for more than "
                             f"{LOCK_TIMEOUT:.0f} s")
        if _ends_torn(fd):
            payload = b"\n" + payload  # isolate a crash fragment on its own (ignored) line
        _write_all(fd, payload)
        os.fsync(fd)
    finally:
        os.close(fd)  # closing releases the lock
    if created:
        fsync_path(path.parent)  # the new file's entry


def _ends_torn(fd: int) -> bool:
    """True when the file is non-empty and does not end with a newline."""
    size = os.fstat(fd).st_size
    return size > 0 and os.pread(fd, 1, size - 1) != b"\n"


def _write_all(fd: int, payload: bytes) -> None:
    """One ``os.write``; loops only if the kernel writes short (disk full), still under lock."""
    view = memoryview(payload)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _read_locked(path: Path) -> tuple[bytes, str | None]:
    """The whole file, read under a shared lock so no half-written record is seen; and a problem, if any.

    Never waits more than :data:`LOCK_TIMEOUT`: a lock held longer is named, and the file is read
    without it (a save under way at that moment could show as a cut last line, itself named).
    Opened without blocking, and only a regular file is read (a FIFO would wait forever).
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    with open(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return b"", "not a regular file: not read"
        problem = None
        if not _lock(fd, fcntl.LOCK_SH, LOCK_TIMEOUT):
            problem = f"locked by {lock_holder(path)} for more than {LOCK_TIMEOUT:.0f} s: read without the lock"
        return handle.read(), problem


class LabelStore:
    """The label files of one cohort: ``<labels_dir>/<cohort>/<rater>.jsonl``.

    Parameters
    ----------
    labels_dir : str or Path, optional
        Root folder of all label files; default ``$COVSEV_LABELS_DIR`` or ``labels/``.
    cohort : str
        Cohort name (a folder under ``labels_dir``).
    scales : iterable of covsev_tools.scales.Scale, optional
        The cohort's scales (``Cohort.scales``): records are checked against them. Default: the
        built-in scales fully, other scale names for structure only.

    Attributes
    ----------
    warnings : list of RecordProblem
        Lines left out by the last read (torn by a crash, invalid, forged, repeated), each naming
        file, line and reason. :meth:`records` and :meth:`latest` never return such a line.

    Examples
    --------
    >>> import tempfile
    >>> store = LabelStore(tempfile.mkdtemp(), "demo")
    >>> rec = store.save({"rater": "rad1", "case_id": "c01", "scales": {}})
    >>> store.latest()[("rad1", "c01")]["record_id"] == rec["record_id"]
    True
    """

    def __init__(self, labels_dir: str | Path | None = None, cohort: str = "default", scales=None):
        validate_rater_id(cohort)  # the cohort name is a folder name too
        self.labels_dir = Path(labels_dir) if labels_dir is not None else default_labels_dir()
        self.cohort = cohort
        self.scales = tuple(scales) if scales is not None else None
        self.folder = self.labels_dir / cohort
        self.warnings: list[RecordProblem] = []

    def path_for(self, rater: str) -> Path:
        """File of one rater (validated ID).

        Examples
        --------
        >>> LabelStore("labels", "pilot").path_for("rad1")
        PosixPath('labels/pilot/rad1.jsonl')
        """
        return self.folder / f"{validate_rater_id(rater)}.jsonl"

    def raters(self) -> list[str]:
        """Rater IDs that have a file, sorted.

        Examples
        --------
        >>> LabelStore("/nonexistent", "pilot").raters()
        []
        """
        if not self.folder.is_dir():
            return []
        return sorted(p.stem for p in self.folder.glob("*.jsonl") if RATER_ID_PATTERN.match(p.stem))

    def reading_order(self, cohort, rater: str, save: bool = True) -> list[str]:
        """The rater's order of ``cohort`` (``Cohort.reading_order``; on the hub, the label service's).

        Examples
        --------
        >>> from covsev_tools.cohort.create import example_cohort
        >>> cohort = example_cohort()
        >>> LabelStore("labels", cohort.name).reading_order(cohort, "ann") == cohort.reading_order("ann")
        True
        """
        return cohort.reading_order(rater, save=save)

    def save(self, record: dict) -> dict:
        """Check one record, append it durably and return it (with ``record_id``, ``schema``, ...).

        The record is on disk (written and fsynced) when this returns; only then may a caller
        tell the rater it is saved. A record the reader would leave out is never written.

        Parameters
        ----------
        record : dict
            Must hold ``rater`` and ``case_id``; ``scales`` defaults to ``{}``; the store adds
            ``schema``, ``record_id``, ``cohort`` and ``time_saved``.

        Returns
        -------
        dict
            The record as written.

        Raises
        ------
        RaterIdError
            Unsafe rater ID.
        StoreError
            Missing ``case_id``, a record that does not fit the schema, or the file cannot be written.

        Examples
        --------
        >>> import tempfile
        >>> store = LabelStore(tempfile.mkdtemp(), "pilot")
        >>> store.save({"rater": "rad1", "case_id": "c1", "comment": 3})
        Traceback (most recent call last):
        ...
        covsev_tools.labels.store.StoreError: record not saved: comment = 3 must be string or null
        """
        full = self._complete(record)
        reason = check_record(full, scales=self.scales, rater=full["rater"], cohort=self.cohort)
        if reason is not None:
            raise StoreError(f"record not saved: {reason}")
        try:
            payload = (json.dumps(full, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")
        except ValueError as exc:  # NaN or infinity: not JSON
            raise StoreError(f"record not saved: {exc}") from None
        if len(payload) > MAX_LINE_BYTES:
            raise StoreError(f"record not saved: {len(payload):,} bytes, over the limit of {MAX_LINE_BYTES:,}")
        path = self.path_for(full["rater"])
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            _append_line(path, payload)
        except OSError as exc:
            raise StoreError(f"could not save to {path}: {exc.strerror or exc}") from exc
        return full

    def _complete(self, record: dict) -> dict:
        validate_rater_id(record.get("rater"))
        if not record.get("case_id"):
            raise StoreError("a record needs a case_id")
        full = {"schema": SCHEMA_VERSION, "record_id": uuid.uuid4().hex, "cohort": self.cohort}
        full.update(record)
        full.setdefault("scales", {})
        full.setdefault("time_saved", utc_now())
        return full

    def iter_entries(self, rater: str | None = None) -> Iterator[tuple[str, LogEntry]]:
        """Valid records one at a time, as ``(rater, LogEntry)``; :attr:`warnings` fills as logs are read.

        Reading record by record lets a large export keep only what it needs of each record.

        Examples
        --------
        >>> list(LabelStore("/nonexistent", "pilot").iter_entries())
        []
        """
        self.warnings = []
        for name in [rater] if rater is not None else self.raters():
            path = self.path_for(name)
            if os.path.lexists(path):
                try:
                    data, problem = _read_locked(path)
                except OSError as exc:  # e.g. a log its rater made unreadable (chmod 000), or a symlink
                    self.warnings.append(RecordProblem(path, 0, f"cannot be read ({exc.strerror or exc}): "
                                                                "none of its records counted"))
                    continue
                if problem is not None:
                    self.warnings.append(RecordProblem(path, 0, problem))
                yield from ((name, entry) for entry in iter_log(path, data, rater=name, cohort=self.cohort,
                                                                 scales=self.scales, problems=self.warnings))

    def entries(self, rater: str | None = None) -> list[tuple[str, LogEntry]]:
        """Valid records with their line and save time, as ``(rater, LogEntry)``; refreshes :attr:`warnings`.

        Examples
        --------
        >>> LabelStore("/nonexistent", "pilot").entries()
        []
        """
        return list(self.iter_entries(rater))

    def records(self, rater: str | None = None) -> list[dict]:
        """All valid records (history included) in log order, for one rater or all (sorted by rater).

        Lines left out are listed in :attr:`warnings`.

        Examples
        --------
        >>> LabelStore("/nonexistent", "pilot").records()
        []
        """
        return [entry.record for _, entry in self.entries(rater)]

    def latest(self, rater: str | None = None) -> dict[tuple[str, str], dict]:
        """Latest valid record per ``(rater, case_id)``.

        "Latest" is the record with the latest ``time_saved``; of records saved at the same instant,
        the one further down the rater's log. The order in which files are read never matters: a
        rater's records come only from that rater's log.

        Examples
        --------
        >>> LabelStore("/nonexistent", "pilot").latest()
        {}
        """
        best: dict[tuple[str, str], LogEntry] = {}
        for name, entry in self.entries(rater):
            key = (name, entry.record["case_id"])
            held = best.get(key)
            if held is None or (entry.saved_at, entry.line_number) >= (held.saved_at, held.line_number):
                best[key] = entry
        return {key: entry.record for key, entry in best.items()}

    def long(self, rater: str | None = None, history: bool = False):
        """Tidy long DataFrame: one row per case x rater x scale x component (``total`` included).

        Parameters
        ----------
        rater : str, optional
            Only this rater.
        history : bool
            Include superseded records too (default: latest per case and rater only).

        Returns
        -------
        pandas.DataFrame
            Columns :data:`covsev_tools.labels.tidy.LONG_COLUMNS`; ``score`` is NaN when not assessable.

        Examples
        --------
        >>> list(LabelStore("/nonexistent", "pilot").long().columns[:3])
        ['cohort', 'case_id', 'rater']
        """
        return long_frame(self.records(rater) if history else self.latest(rater).values())

    def totals(self, scale: str):
        """Wide table of the latest totals of one scale: index ``case_id``, one column per rater.

        Examples
        --------
        >>> LabelStore("/nonexistent", "pilot").totals("extent").empty
        True
        """
        frame = self.long()
        frame = frame[(frame["scale"] == scale) & (frame["component"] == "total")]
        wide = frame.pivot(index="case_id", columns="rater", values="score")
        wide.columns.name = None
        return wide.sort_index()
