"""The coordinator's metadata CSV (patient ID, view, sex, ...), joined into the key by file name.

Examples
--------
>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "meta.csv"
>>> _ = path.write_text("filename,patientid\\nimages/a.png,p1\\n")
>>> metadata = read_metadata(path)
>>> metadata["columns"], metadata["rows"]
(['patientid'], {'a.png': {'patientid': 'p1'}})
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from covsev_tools.cohort.errors import CohortError
from covsev_tools.cohort.folder import KEY_COLUMNS

__all__ = ["FILENAME_COLUMNS", "join_metadata", "read_metadata"]

#: Accepted names of the column that holds the image file name (compared ignoring case).
FILENAME_COLUMNS = ("filename", "file_name", "file", "image", "imagefile")


def read_metadata(path: Path) -> dict[str, Any]:
    """Read a metadata CSV: rows by file base name, plus the columns to join (prefixed if clashing).

    Raises
    ------
    CohortError
        Missing or unreadable file, or no file-name column.
    """
    frame = _read_frame(path)
    lower = {c.lower(): c for c in frame.columns}
    column = next((lower[c] for c in FILENAME_COLUMNS if c in lower), None)
    if column is None:
        raise CohortError(f"{path}: no 'filename' column to join on (columns: {', '.join(frame.columns)})")
    rename = {c: (f"meta_{c}" if c in KEY_COLUMNS else c) for c in frame.columns if c != column}
    by_name: dict[str, dict[str, str]] = {}
    for record in frame.to_dict("records"):
        base = Path(str(record[column]).replace("\\", "/")).name
        if base and base not in by_name:
            by_name[base] = {rename[c]: v for c, v in record.items() if c != column}
    return {"path": path, "rows": by_name, "columns": list(rename.values())}


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
    return frame


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
