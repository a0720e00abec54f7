"""Crash-safe, per-rater, append-only label store.

Each rater's saves go to ``<labels_dir>/<cohort>/<rater>.jsonl``: one JSON object per line, one
line per save.  A save is a single ``os.write`` on an ``O_APPEND`` descriptor while holding an
exclusive ``fcntl.flock``, followed by ``fsync`` -- only then does :meth:`LabelStore.save` return,
so a save the app confirms is on disk.  Two raters, or two browser tabs of the same rater, cannot
interleave bytes because every writer takes the same lock on the same file.

A process killed in the middle of a write can leave a *torn* last line.  Loading reports it in
:attr:`LabelStore.warnings` and ignores it (never fatal, never merged); the next append starts
with a newline when the file does not end with one, so a new record never glues onto the
fragment.  Re-scoring a case appends a new record; the latest one wins and history stays for audit.

Examples
--------
>>> store = LabelStore("labels", "pilot")                        # doctest: +SKIP
>>> store.save({"rater": "rad1", "case_id": "c0001", ...})       # doctest: +SKIP
>>> store.totals("extent")                                       # doctest: +SKIP
"""
from __future__ import annotations

import fcntl
import json
import os
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from covsev_tools.cohort.ids import RATER_ID_PATTERN, RaterIdError, validate_rater_id  # one rule, upstream
from covsev_tools.files import fsync_path, write_csv_atomic

SCHEMA_VERSION = 1
LABELS_DIR_ENV = "COVSEV_LABELS_DIR"
REQUIRED_FIELDS = ("record_id", "case_id", "rater", "scales")

#: Columns of :meth:`LabelStore.long`, in order.
LONG_COLUMNS = (
    "cohort", "case_id", "rater", "scale", "scale_version", "component", "score",
    "not_assessable", "not_assessable_reason", "comment", "time_shown", "time_saved",
    "seconds_on_case", "session_id", "position", "record_id",
)


class StoreError(Exception):
    """A label store problem the user can act on (bad rater ID, unwritable folder...)."""


@dataclass(frozen=True)
class TornLine:
    """A line of a rater file that is not a valid record (e.g. cut by a crash)."""

    path: Path
    line_number: int
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line_number}: ignored invalid record ({self.reason})"


def default_labels_dir() -> Path:
    """The labels folder: ``$COVSEV_LABELS_DIR`` when set, else ``labels/``."""
    return Path(os.environ.get(LABELS_DIR_ENV) or "labels")


def utc_now() -> str:
    """Current time as ISO 8601 UTC with milliseconds, e.g. ``2026-01-01T10:00:00.123Z``."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _append_line(path: Path, payload: bytes) -> None:
    """Append ``payload`` (one JSON line) to ``path``, durably, under an exclusive lock."""
    created = not path.exists()
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
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


def _read_locked(path: Path) -> bytes:
    """Read the whole file under a shared lock so no half-written record is seen."""
    with open(path, "rb") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_SH)
        return handle.read()


def parse_records(path: Path, data: bytes) -> tuple[list[dict], list[TornLine]]:
    """Split a rater file into valid records and :class:`TornLine` warnings.

    Parameters
    ----------
    path : Path
        File the bytes came from (named in warnings).
    data : bytes
        The file content.

    Returns
    -------
    records, warnings : list of dict, list of TornLine
    """
    records, warnings = [], []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            reason = getattr(exc, "msg", None) or getattr(exc, "reason", None) or str(exc)
            warnings.append(TornLine(path, number, f"not valid JSON: {reason}"))
            continue
        missing = [f for f in REQUIRED_FIELDS if not isinstance(record, dict) or f not in record]
        if missing:
            warnings.append(TornLine(path, number, f"missing fields {missing}"))
            continue
        records.append(record)
    return records, warnings


class LabelStore:
    """The label files of one cohort: ``<labels_dir>/<cohort>/<rater>.jsonl``.

    Parameters
    ----------
    labels_dir : str or Path, optional
        Root folder of all label files; default ``$COVSEV_LABELS_DIR`` or ``labels/``.
    cohort : str
        Cohort name (a folder under ``labels_dir``).

    Attributes
    ----------
    warnings : list of TornLine
        Invalid lines found by the last load (e.g. a record cut by a crash); they are ignored.

    Examples
    --------
    >>> store = LabelStore("/tmp/labels", "demo")                       # doctest: +SKIP
    >>> rec = store.save({"rater": "rad1", "case_id": "c01", "scales": {}})  # doctest: +SKIP
    >>> store.latest()[("rad1", "c01")]["record_id"] == rec["record_id"]  # doctest: +SKIP
    True
    """

    def __init__(self, labels_dir: str | Path | None = None, cohort: str = "default"):
        validate_rater_id(cohort)  # the cohort name is a folder name too
        self.labels_dir = Path(labels_dir) if labels_dir is not None else default_labels_dir()
        self.cohort = cohort
        self.folder = self.labels_dir / cohort
        self.warnings: list[TornLine] = []

    def path_for(self, rater: str) -> Path:
        """File of one rater (validated ID)."""
        return self.folder / f"{validate_rater_id(rater)}.jsonl"

    def raters(self) -> list[str]:
        """Rater IDs that have a file, sorted."""
        if not self.folder.is_dir():
            return []
        return sorted(p.stem for p in self.folder.glob("*.jsonl") if RATER_ID_PATTERN.match(p.stem))

    def save(self, record: dict) -> dict:
        """Append one record durably and return it (with ``record_id``, ``schema``, ``cohort``).

        The record is on disk (written and fsynced) when this returns; only then may a caller
        tell the rater it is saved.

        Parameters
        ----------
        record : dict
            Must hold ``rater`` and ``case_id``; ``scales`` defaults to ``{}``.

        Returns
        -------
        dict
            The record as written.

        Raises
        ------
        RaterIdError
            Unsafe rater ID.
        StoreError
            Missing ``case_id`` or the file cannot be written.
        """
        full = self._complete(record)
        payload = (json.dumps(full, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")
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

    def records(self, rater: str | None = None) -> list[dict]:
        """All valid records (history included) in save order, for one rater or all.

        Invalid lines are skipped and listed in :attr:`warnings`.
        """
        raters = [rater] if rater is not None else self.raters()
        self.warnings = []
        out: list[dict] = []
        for name in raters:
            path = self.path_for(name)
            if not path.exists():
                continue
            records, warnings = parse_records(path, _read_locked(path))
            out.extend(records)
            self.warnings.extend(warnings)
        return out

    def latest(self, rater: str | None = None) -> dict[tuple[str, str], dict]:
        """Latest record per ``(rater, case_id)`` -- re-scoring wins over earlier saves."""
        return {(r["rater"], r["case_id"]): r for r in self.records(rater)}

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
            Columns :data:`LONG_COLUMNS`; ``score`` is NaN for a not-assessable case.
        """
        return _long_frame(self.records(rater) if history else self.latest(rater).values())

    def totals(self, scale: str):
        """Wide table of the latest totals of one scale: index ``case_id``, one column per rater."""
        frame = self.long()
        frame = frame[(frame["scale"] == scale) & (frame["component"] == "total")]
        wide = frame.pivot(index="case_id", columns="rater", values="score")
        wide.columns.name = None
        return wide.sort_index()


def _long_frame(records):
    """The tidy long table (:data:`LONG_COLUMNS`) of already loaded records."""
    import pandas as pd

    rows = [row for record in records for row in record_rows(record)]
    frame = pd.DataFrame(rows, columns=list(LONG_COLUMNS))
    frame["score"] = pd.to_numeric(frame["score"], errors="coerce")
    return frame


def record_rows(record: dict) -> list[dict]:
    """Rows of the tidy long table for one record (components then ``total`` per scale)."""
    base = {key: record.get(key) for key in LONG_COLUMNS if key not in ("scale", "scale_version", "component", "score")}
    base["not_assessable"] = bool(record.get("not_assessable", False))
    rows = []
    for scale, entry in record.get("scales", {}).items():
        scores = dict(entry.get("scores") or {})
        scores["total"] = entry.get("total")
        for component, score in scores.items():
            score = None if base["not_assessable"] else score
            rows.append({**base, "scale": scale, "scale_version": entry.get("version"),
                         "component": component, "score": score})
    return rows


#: Columns of the ratings export, before the cohort's metadata columns (``docs/ARCHITECTURE.md``).
EXPORT_COLUMNS = (
    "cohort", "case_id", "display_id", "is_repeat", "rater", "scale", "scale_version", "component",
    "score", "not_assessable", "not_assessable_reason", "comment", "time_shown", "time_saved",
    "seconds_on_case", "session_id", "filename",
)


def ratings_export(cohort, labels_dir: str | Path | None = None):
    """The coordinator's unblinded ratings table: latest records mapped back to files and metadata.

    Repeat IDs are resolved to their original case (``is_repeat`` true); ``filename`` and the
    metadata columns come from the cohort key.  Records whose display ID is not in the cohort
    (e.g. after re-creating it with new IDs) are left out and listed in ``frame.attrs["unknown_ids"]``.

    Parameters
    ----------
    cohort : covsev_tools.cohort.cohort.Cohort
        The cohort (its key must be present: coordinator side).
    labels_dir : str or Path, optional
        Root of the label files; default ``$COVSEV_LABELS_DIR`` or ``labels/``.

    Returns
    -------
    pandas.DataFrame
        :data:`EXPORT_COLUMNS` then metadata columns; ``score`` is a nullable integer (empty when
        not assessable); torn lines found on load are in ``frame.attrs["warnings"]``.

    Examples
    --------
    >>> ratings_export(Cohort.load("cohorts/pilot")).to_csv("ratings.csv", index=False)  # doctest: +SKIP
    """
    from covsev_tools.cohort import KEY_COLUMNS

    store = LabelStore(labels_dir, cohort.name)
    known, repeats = set(cohort.display_ids), cohort.repeats()
    latest = store.latest()  # one read of the label files serves both the unknown IDs and the table
    unknown = sorted({case_id for _, case_id in latest} - known)
    long = _long_frame(latest.values()).rename(columns={"case_id": "display_id"})
    long = long[long["display_id"].isin(known)].copy()
    long["case_id"] = long["display_id"].map(lambda d: repeats.get(d, d))
    long["is_repeat"] = long["display_id"].isin(list(repeats))
    key = cohort.key()
    originals = key[key["status"] == "ok"].drop_duplicates("case_id")
    metadata = [c for c in key.columns if c not in KEY_COLUMNS]
    frame = long.merge(originals[["case_id", "filename", *metadata]], on="case_id", how="left")
    frame["score"] = frame["score"].astype("Int64")
    frame["cohort"] = cohort.name
    frame = frame[list(EXPORT_COLUMNS) + metadata]
    frame = frame.sort_values(["case_id", "rater", "is_repeat", "scale"], kind="stable").reset_index(drop=True)
    frame.attrs.update(unknown_ids=unknown, warnings=[str(w) for w in store.warnings])
    return frame


def write_ratings_csv(frame, path: str | Path) -> None:
    """Write :func:`ratings_export` output with ``true``/``false`` flags (as ``--filter`` expects)."""
    out = frame.copy()
    for column in ("is_repeat", "not_assessable"):
        out[column] = out[column].map({True: "true", False: "false"})
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_csv_atomic(out, path)
