"""The pull's output folder: coordinator-only, resumable, and written whole or not at all.

Layout (the folder is 0700, every file 0600; the coordinator owns it)::

    images/<patient>/<sop>.dcm   de-identified DICOM: give ``images/`` to ``covsev cohort create``
    metadata.csv                 filename, patientid, view, sex, age, offset, ...: ``--metadata`` of cohort create
    link.csv                     original <-> new patient ID and UIDs (the re-identification key)
    review.csv                   images whose pixels may carry text: check them by eye
    pull.json                    provenance: server, query, times, profile, library versions, summary
    .pull/key                    the secret behind the new UIDs, date offset and pseudonyms
    .pull/journal.jsonl          one line per image kept (with its link-table row), written after its file:
                                 what a resumed pull skips
    .pull/lock                   held while a pull runs

Nothing here is for raters: they see the cohort's display PNGs only. ``link.csv`` and ``.pull/key``
re-identify every image; they never leave this folder.

Examples
--------
>>> import tempfile, pathlib, stat
>>> folder = PullFolder(pathlib.Path(tempfile.mkdtemp()) / "site1")
>>> folder.prepare()
True
>>> oct(stat.S_IMODE(folder.root.stat().st_mode)), len(folder.key())
('0o700', 32)
"""
from __future__ import annotations

import json
import os
import secrets
import stat
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from covsev_tools.files import fsync_path, write_rows_csv_atomic, write_text_atomic
from covsev_tools.pull.errors import PullError

__all__ = ["LINK_COLUMNS", "METADATA_COLUMNS", "PROVENANCE_FILE", "PullFolder", "read_link_table", "read_provenance"]

#: Columns of ``link.csv`` (coordinator only).
LINK_COLUMNS = ("filename", "original_patient_id", "new_patient_id", "original_study_uid", "new_study_uid",
                "original_series_uid", "new_series_uid", "original_sop_uid", "new_sop_uid", "original_accession",
                "original_study_date", "source")
#: Columns of ``metadata.csv``, named as the cohort's metadata columns (``patientid``, ``view``, ``offset``).
METADATA_COLUMNS = ("filename", "patientid", "study", "view", "sex", "age", "offset", "modality",
                    "burned_in", "masked")
PROVENANCE_FILE = "pull.json"


class PullFolder:
    """The output folder of ``covsev pull`` (see the module docstring for its files)."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.images = self.root / "images"
        self.state = self.root / ".pull"

    def prepare(self) -> bool:
        """Make the folder (0700) or take over an earlier pull's; True when this call created it."""
        created = not self.root.exists()
        if self.root.exists() and not self.root.is_dir():
            raise PullError(f"{self.root}: exists and is not a folder")
        self.root.mkdir(parents=True, exist_ok=True)
        info = self.root.stat()
        if info.st_uid != os.getuid():
            raise PullError(f"{self.root}: owned by another user; the pull folder must be the coordinator's own")
        if not created and any(self.root.iterdir()) and not (self.state / "key").is_file():
            raise PullError(f"{self.root}: not empty and not an earlier pull's folder; choose a new --out")
        os.chmod(self.root, 0o700)
        for folder in (self.images, self.state):
            folder.mkdir(mode=0o700, exist_ok=True)
        return created

    @contextmanager
    def locked(self):
        """Hold ``.pull/lock``: a second pull into the same folder stops at once instead of interleaving."""
        import fcntl

        with _private_umask(), open(self.state / "lock", "a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise PullError(f"{self.root}: another 'covsev pull' is writing into this folder; run again when "
                                "it has finished") from None
            yield

    def key(self) -> bytes:
        """The folder's 32-byte secret (made on first use, 0600)."""
        path = self.state / "key"
        if not path.is_file():
            with _private_umask():
                write_text_atomic(path, secrets.token_hex(32) + "\n")
        text = path.read_text().strip()
        try:
            key = bytes.fromhex(text)
        except ValueError:
            key = b""
        if len(key) != 32:
            raise PullError(f"{path}: not a pull key (64 hex digits); restore it from a backup or pull afresh")
        return key

    def journal(self) -> list[dict[str, Any]]:
        """What earlier runs kept (a torn last line from a crash is ignored: that image is fetched again)."""
        path = self.state / "journal.jsonl"
        entries = []
        if path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(entry, dict) and (self.images / str(entry.get("filename", ""))).is_file():
                    entries.append(entry)
        return entries

    def keep(self, dataset, entry: dict[str, Any]) -> None:
        """Write one de-identified image whole, then its journal line (flushed to disk)."""
        from covsev_tools.files import replaced_atomically

        target = self.images / entry["filename"]
        with _private_umask():
            target.parent.mkdir(mode=0o700, exist_ok=True)
            with replaced_atomically(target) as tmp:
                dataset.save_as(tmp, enforce_file_format=True)
            with open(self.state / "journal.jsonl", "a", encoding="utf-8") as journal:
                journal.write(json.dumps(entry, sort_keys=True) + "\n")
                journal.flush()
                os.fsync(journal.fileno())

    def write_tables(self, entries: list[dict[str, Any]]) -> None:
        """``link.csv``, ``metadata.csv`` and ``review.csv`` from every image kept so far."""
        entries = sorted(entries, key=lambda e: (e["new_patient_id"], e.get("date", ""), e["filename"]))
        first_day: dict[str, str] = {}
        for entry in entries:
            if entry.get("date"):
                first_day.setdefault(entry["new_patient_id"], entry["date"])
        metadata = []
        for entry in entries:
            offset = _days(first_day.get(entry["new_patient_id"], ""), entry.get("date", ""))
            metadata.append({"filename": entry["filename"], "patientid": entry["new_patient_id"],
                             "study": entry["new_study_uid"], "view": entry.get("view", ""),
                             "sex": entry.get("sex", ""), "age": entry.get("age", ""), "offset": offset,
                             "modality": entry.get("modality", ""), "burned_in": entry.get("burned_in", ""),
                             "masked": "yes" if entry.get("masked") else "no"})
        review = [{"filename": e["filename"], "reason": e["burned_in"], "masked": "yes" if e.get("masked") else "no"}
                  for e in entries if e.get("burned_in")]
        with _private_umask():
            write_rows_csv_atomic(self.root / "link.csv", LINK_COLUMNS, [{c: e.get(c, "") for c in LINK_COLUMNS}
                                                                        for e in entries])
            write_rows_csv_atomic(self.root / "metadata.csv", METADATA_COLUMNS, metadata)
            write_rows_csv_atomic(self.root / "review.csv", ("filename", "reason", "masked"), review)

    def write_provenance(self, run: dict[str, Any]) -> dict[str, Any]:
        """Add this run to ``pull.json`` (every run of the folder is kept, oldest first)."""
        path = self.root / PROVENANCE_FILE
        record = read_provenance(path) if path.is_file() else {"schema": 1, "runs": []}
        record["runs"].append(run)
        with _private_umask():
            write_text_atomic(path, json.dumps(record, indent=1, sort_keys=True) + "\n")
        return record

    def secure(self) -> None:
        """Every file 0600 and every folder 0700 (files copied in by hand included)."""
        for folder, dirs, files in os.walk(self.root):
            for name in dirs:
                os.chmod(Path(folder) / name, 0o700)
            for name in files:
                path = Path(folder) / name
                if not path.is_symlink():
                    os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
        fsync_path(self.root)


def read_provenance(path: str | os.PathLike) -> dict[str, Any]:
    """``pull.json``, checked for its shape; :class:`PullError` naming the file if it is not one.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "pull.json"
    >>> _ = path.write_text('{"schema": 1, "runs": []}')
    >>> read_provenance(path)["runs"]
    []
    """
    path = Path(path)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PullError(f"{path}: not a readable pull record ({type(exc).__name__})") from None
    if not isinstance(record, dict) or not isinstance(record.get("runs"), list) \
            or not all(isinstance(r, dict) for r in record["runs"]):
        raise PullError(f"{path}: not a pull record (no list of runs)")
    return record


def read_link_table(path: str | os.PathLike) -> list[dict[str, str]]:
    """``link.csv`` as rows of text, checked for its columns.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "link.csv"
    >>> _ = write_rows_csv_atomic(path, LINK_COLUMNS, [{"filename": "P1/2.9.dcm", "original_patient_id": "-7"}])
    >>> read_link_table(path)[0]["original_patient_id"]
    '-7'
    """
    import csv

    from covsev_tools.files import spreadsheet_unescape

    path = Path(path)
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in LINK_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise PullError(f"{path}: not a link table (no column {missing[0]!r})")
        return [{k: spreadsheet_unescape(v) for k, v in row.items()} for row in reader]


def _days(first: str, date: str) -> str:
    import datetime as dt

    try:
        return str((dt.date.fromisoformat(_iso(date)) - dt.date.fromisoformat(_iso(first))).days)
    except ValueError:
        return ""


def _iso(date: str) -> str:
    return f"{date[:4]}-{date[4:6]}-{date[6:8]}" if len(date) == 8 and date.isdigit() else "bad"


class _private_umask:
    """New files 0600 and folders 0700 inside the block (the process umask, restored after)."""

    def __enter__(self):
        self._old = os.umask(0o077)

    def __exit__(self, *exc):
        os.umask(self._old)
