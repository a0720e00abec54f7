"""The coordinator's metadata CSV (patient ID, view, sex, ...), joined into the key by file name.

Examples
--------
>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "meta.csv"
>>> _ = path.write_text("filename,patientid\\nimages/a.png,p1\\n")
>>> metadata = read_metadata(path)
>>> metadata["columns"], metadata["rows"]
(['patientid'], {'a.png': {'patientid': 'p1'}})
>>> _ = path.write_text("filename,Rater,view,score\\na.png,x,PA,3\\n")
>>> read_metadata(path)
Traceback (most recent call last):
...
covsev_tools.cohort.errors.CohortError: .../meta.csv: metadata column(s) 'Rater', 'score' clash with covsev's own columns; rename them (reserved: bit_depth, case, case_id, ...)
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from covsev_tools.cohort.errors import CohortError
from covsev_tools.cohort.folder import KEY_COLUMNS

__all__ = ["FILENAME_COLUMNS", "RESERVED_METADATA_COLUMNS", "join_metadata", "read_metadata"]

#: Accepted names of the column that holds the image file name (compared ignoring case).
FILENAME_COLUMNS = ("filename", "file_name", "file", "image", "imagefile")

#: Names a metadata column may not have: the key's own columns, the columns of the ratings export and
#: of the label store's long table (metadata columns are joined beside them), and ``case``, the case
#: key of the report's tables. A test checks this covers the real export's columns.
RESERVED_METADATA_COLUMNS = tuple(sorted(set(KEY_COLUMNS) | {
    "case", "cohort", "case_id", "display_id", "is_repeat", "rater", "scale", "scale_version",
    "component", "score", "not_assessable", "not_assessable_reason", "comment", "time_shown",
    "time_saved", "seconds_on_case", "session_id", "position", "record_id", "filename"}))


def read_metadata(path: Path) -> dict[str, Any]:
    """Read a metadata CSV: rows by file base name, plus the columns to join.

    Raises
    ------
    CohortError
        Missing or unreadable file, no file-name column, columns named like covsev's own
        (:data:`RESERVED_METADATA_COLUMNS`, compared ignoring case, all listed in one message), or
        two rows for one image (same base name) with different values.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "meta.csv"
    >>> _ = path.write_text("Image,view\\nscans/a.png,PA\\n")
    >>> read_metadata(path)["rows"]
    {'a.png': {'view': 'PA'}}
    """
    frame = _read_frame(path)
    lower = {}
    for c in frame.columns:
        lower.setdefault(c.lower(), c)
    column = next((lower[c] for c in FILENAME_COLUMNS if c in lower), None)
    if column is None:
        raise CohortError(f"{path}: no 'filename' column to join on (columns: {', '.join(frame.columns)})")
    columns = [c for c in frame.columns if c != column]
    _refuse_reserved(path, columns)
    by_name: dict[str, dict[str, str]] = {}
    line_of: dict[str, int] = {}
    for line, record in enumerate(frame.to_dict("records"), start=2):  # line 1 is the header
        base = Path(str(record[column]).replace("\\", "/")).name
        values = {c: v for c, v in record.items() if c != column}
        if base and base in by_name and by_name[base] != values:  # which one is the patient's? never guess
            raise CohortError(f"{path}: lines {line_of[base]} and {line} both describe {base!r} with different "
                              "values; keep one row per image")
        if base and base not in by_name:
            by_name[base], line_of[base] = values, line
    return {"path": path, "rows": by_name, "columns": columns}


def _refuse_reserved(path: Path, columns: list[str]) -> None:
    """Joined beside covsev's columns, a column named ``rater`` or ``score`` would break or overwrite them."""
    reserved = {name.casefold() for name in RESERVED_METADATA_COLUMNS}
    clashing = [c for c in columns if c.casefold() in reserved]
    if clashing:
        raise CohortError(f"{path}: metadata column(s) {', '.join(map(repr, clashing))} clash with covsev's own "
                          f"columns; rename them (reserved: {', '.join(RESERVED_METADATA_COLUMNS)})")


def _read_frame(path: Path):
    import pandas as pd

    if not path.is_file():
        raise CohortError(f"{path}: metadata CSV not found")
    frame = None
    for encoding in ("utf-8-sig", "latin-1"):  # exports from spreadsheets are often not UTF-8
        try:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding=encoding)
            break
        except UnicodeDecodeError:
            continue
        except Exception as exc:
            raise CohortError(f"{path}: cannot read metadata CSV ({type(exc).__name__}: {exc})") from None
    frame.columns = [str(c).strip().lstrip("\ufeff") for c in frame.columns]
    header = _header(path, encoding)
    twice = sorted({c for c in header if [h.casefold() for h in header].count(c.casefold()) > 1})
    if twice:  # pandas would rename the second one "name.1" and keep both
        raise CohortError(f"{path}: column name(s) {', '.join(map(repr, twice))} appear more than once "
                          "(names are compared ignoring case)")
    return frame


def _header(path: Path, encoding: str) -> list[str]:
    import csv

    with open(path, newline="", encoding=encoding) as fh:
        return [c.strip().lstrip("\ufeff") for c in next(csv.reader(fh), [])]


def join_metadata(rows: list[dict], metadata: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Join by base name (exact, then ignoring case) into the key rows.

    Returns
    -------
    unmatched_rows, images_without_metadata : list of str
        Metadata rows that match no image (sorted) and images with no metadata row.

    Examples
    --------
    >>> rows = [{"filename": "x/A.png"}, {"filename": "b.png"}]
    >>> join_metadata(rows, {"rows": {"a.png": {"view": "PA"}, "z.png": {"view": "AP"}}})
    (['z.png'], ['b.png'])
    >>> rows[0]["view"]
    'PA'
    """
    lookup = metadata["rows"]
    folded = {k.casefold(): k for k in lookup}
    used, without = set(), []
    for row in rows:
        base = Path(row["filename"]).name
        key = base if base in lookup else folded.get(base.casefold())
        if key is None:
            without.append(row["filename"])
            continue
        used.add(key)
        row.update(lookup[key])
    return sorted(set(lookup) - used), without
