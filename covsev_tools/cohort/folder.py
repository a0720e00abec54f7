"""The files of a cohort folder: their names, their columns, and reading and writing them.

Folder layout (default ``cohorts/<name>/``)::

    cohort.json          name, created, repeat settings, scales, counts        (rater side)
    manifest.csv         case_id: every display ID, cases and hidden repeats   (rater side)
    cases/<id>.png       8-bit display image per case and per hidden repeat    (rater side)
    orders/<rater>.json  {"rater", "items": [{"position", "case_id"}]}  (that rater; no seed)
    key.csv              case_id, sha256, filename, path, ..., metadata        (coordinator only)
    repeats.csv          repeat_id, case_id, the disguise of the repeat's image (coordinator only)
    secret.json          {"seed"}: orders and repeats derive from it           (coordinator only)
    provenance.json      the pull record when ``covsev pull`` fetched the images (coordinator only)

What a rater's account reads carries nothing that tells a hidden repeat from a case: the manifest
lists every display ID alike (sorted, no hash, no size), a repeat's display file is its original's
image in a disguise (a slight crop, rotation, resize, grey-level change and noise: see ``blinding``;
every display file has noise of its own), every display file gets the same modification time, and
the seed from which orders, repeats and disguises derive is not on the rater side. Facts about the source file (hash, size, bit depth, format) are in the key.

Examples
--------
>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "repeats.csv"
>>> write_csv(path, REPEAT_COLUMNS[:2], [{"repeat_id": "c22222222", "case_id": "c33333333"}])
>>> read_csv(path)
[{'repeat_id': 'c22222222', 'case_id': 'c33333333'}]
"""
from __future__ import annotations

import csv
import datetime as _dt
import os
import stat
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from covsev_tools.cohort.errors import CohortError
from covsev_tools.cohort.ids import is_case_id
from covsev_tools.files import spreadsheet_unescape, write_rows_csv_atomic
from covsev_tools.images.disguise import DISGUISE_COLUMNS

__all__ = ["COORDINATOR_FILES", "DEFAULT_SCALES", "KEY_COLUMNS", "MANIFEST_COLUMNS", "PROVENANCE_FILE",
           "REPEAT_COLUMNS", "SCHEMA_VERSION", "SOURCE_COLUMNS", "coordinator_only", "exposed_coordinator_files",
           "read_csv", "read_manifest", "utc_now", "write_csv"]

#: Version of the folder layout (1: the manifest listed cases only, with their source facts).
SCHEMA_VERSION = 2
#: Columns of ``manifest.csv`` (rater side: display IDs only).
MANIFEST_COLUMNS = ("case_id",)
#: What reading a source file tells about it (``key.csv``, coordinator only).
SOURCE_COLUMNS = ("image_height", "image_width", "bit_depth", "source_format")
#: Columns of ``key.csv`` before the metadata columns (coordinator only).
KEY_COLUMNS = ("case_id", "sha256", "filename", "path", "duplicate_of", "status", "error") + SOURCE_COLUMNS
#: Columns of ``repeats.csv`` (coordinator only): the map, then the parameters of the repeat's disguise.
REPEAT_COLUMNS = ("repeat_id", "case_id") + DISGUISE_COLUMNS
#: Where the record of a ``covsev pull`` that fetched the images is kept (coordinator only).
PROVENANCE_FILE = "provenance.json"
#: Files of a cohort folder that unblind: the key (file names, paths), the repeat map, the seed,
#: and the pull record (it names the PACS).
COORDINATOR_FILES = ("key.csv", "repeats.csv", "secret.json", PROVENANCE_FILE)
#: Scales of a new cohort when none are named.
DEFAULT_SCALES = ("extent", "opacity")


def utc_now() -> str:
    """The current time, ISO 8601 UTC to the second (``created``/``updated`` in ``cohort.json``).

    Examples
    --------
    >>> utc_now().endswith("+00:00")
    True
    """
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


@contextmanager
def coordinator_only(folder: Path) -> Iterator[None]:
    """Within the block, new files are their owner's alone; after it the unblinding files are 0600, the folder 0750.

    ``cohort create`` writes the key, the repeat map and the seed inside this block, so no other
    account of the machine can read them at any moment, not even between the first byte and a
    later ``chmod``; the folder loses every right of "others" (``hub init`` gives the raters' group
    what they need in the study's copy).

    Examples
    --------
    >>> import tempfile, pathlib, stat
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> with coordinator_only(folder):
    ...     _ = (folder / "key.csv").write_text("case_id\\n")
    >>> oct(stat.S_IMODE((folder / "key.csv").stat().st_mode)), oct(stat.S_IMODE(folder.stat().st_mode))
    ('0o600', '0o750')
    """
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)
    for name in COORDINATOR_FILES:
        if (folder / name).is_file() and not (folder / name).is_symlink():
            os.chmod(folder / name, 0o600)
    os.chmod(folder, 0o750)


def exposed_coordinator_files(folder: Path) -> list[Path]:
    """The unblinding files of a cohort folder that an account other than its owner (and group) can read.

    A file counts when "others" may read it and search every folder above it, as a rater's process
    could. ``hub init`` and ``hub start`` fix these in the source cohort folders of a study.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp()); folder.chmod(0o755)
    >>> _ = (folder / "key.csv").write_text("case_id\\n"); (folder / "key.csv").chmod(0o644)
    >>> [p.name for p in exposed_coordinator_files(folder)]
    ['key.csv']
    """
    exposed = []
    for name in COORDINATOR_FILES:
        path = folder / name
        try:
            readable = stat.S_IMODE(path.stat().st_mode) & stat.S_IROTH
            searchable = all(stat.S_IMODE(p.stat().st_mode) & stat.S_IXOTH for p in path.resolve().parents)
        except OSError:
            continue
        if readable and searchable:
            exposed.append(path)
    return exposed


def write_csv(path: Path, columns: Sequence[str], rows: Iterable[dict[str, Any]]) -> None:
    """Write ``rows`` (dicts; ``None`` as empty, extra keys ignored) atomically with these columns.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "x.csv"
    >>> write_csv(path, ["a", "b"], [{"a": 1, "b": None, "c": 3}])
    >>> path.read_text().splitlines()
    ['a,b', '1,']
    """
    write_rows_csv_atomic(path, columns, rows)  # spreadsheet-safe: key.csv is opened in Excel


def read_csv(path: Path) -> list[dict[str, str]]:
    """Rows of a cohort CSV as dicts of strings; no rows when the file does not exist.

    Examples
    --------
    >>> import pathlib
    >>> read_csv(pathlib.Path("/nonexistent/repeats.csv"))
    []
    """
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as fh:
        # covsev wrote it spreadsheet-safe: undo the quote prefixes so values come back as written
        return [{spreadsheet_unescape(k): spreadsheet_unescape(v) for k, v in row.items()}
                for row in csv.DictReader(fh)]


def read_manifest(path: Path) -> list[dict[str, str]]:
    """The rows of ``manifest.csv``, checked: a ``case_id`` column of distinct IDs shaped like case IDs.

    An ID names the display file ``cases/<id>.png`` the page opens, so an edited manifest must not
    point it elsewhere (``../../...``), and an empty or damaged one is a one-line error here rather
    than a failure later.

    Raises
    ------
    CohortError
        Naming the file, and the line of the first bad ID.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "manifest.csv"
    >>> _ = path.write_text("case_id\\nc22222222\\n../../etc/x\\n")
    >>> read_manifest(path)
    Traceback (most recent call last):
    ...
    covsev_tools.cohort.errors.CohortError: .../manifest.csv: line 3: '../../etc/x' is not a case ID (tampered or damaged?)
    """
    try:
        rows = read_csv(path)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise CohortError(f"{path}: unreadable ({exc})") from None
    if not rows or "case_id" not in rows[0]:
        raise CohortError(f"{path}: no case IDs (tampered or damaged?); run `covsev cohort create` again")
    seen = set()
    for line, row in enumerate(rows, start=2):
        case_id = row["case_id"]
        if not is_case_id(case_id) or case_id in seen:
            why = "appears twice" if case_id in seen else "is not a case ID"
            raise CohortError(f"{path}: line {line}: {case_id!r} {why} (tampered or damaged?)")
        seen.add(case_id)
    return rows
