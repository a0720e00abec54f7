"""The coordinator's unblinded ratings table: latest valid records mapped back to files and metadata.

Examples
--------
>>> from covsev_tools.cohort import Cohort
>>> frame = ratings_export(Cohort.load("studies/site2/cohort"), "studies/site2/labels")  # doctest: +SKIP
>>> write_ratings_csv(frame, "studies/site2/ratings.csv")                              # doctest: +SKIP
"""
from __future__ import annotations

from pathlib import Path

from covsev_tools.files import write_csv_atomic
from covsev_tools.labels.store import LabelStore
from covsev_tools.labels.tidy import RECORD_COLUMNS, SCORE_COLUMNS, LongColumns

__all__ = ["EXPORT_COLUMNS", "ratings_export", "write_ratings_csv"]

#: Columns of the ratings export, before the cohort's metadata columns.
EXPORT_COLUMNS = (
    "cohort", "case_id", "display_id", "is_repeat", "rater", "scale", "scale_version", "component",
    "score", "not_assessable", "not_assessable_reason", "comment", "time_shown", "time_saved",
    "seconds_on_case", "session_id", "filename",
)

# What the export takes from each record (not record_id, position: one less string per record).
_RECORD_FIELDS = tuple(c for c in EXPORT_COLUMNS if c in RECORD_COLUMNS and c != "cohort")


def ratings_export(cohort, labels_dir: str | Path | None = None):
    """The coordinator's unblinded ratings table: latest valid records mapped back to files and metadata.

    Repeat IDs are resolved to their original case (``is_repeat`` true); ``filename`` and the
    metadata columns come from the cohort key (a metadata column named like one of
    :data:`EXPORT_COLUMNS` is kept as ``metadata_<name>``).  Records are checked against the
    cohort's scales; lines left out are named in ``frame.attrs["warnings"]``. Records whose display
    ID is not in the cohort (e.g. after re-creating it with new IDs) are left out and listed in
    ``frame.attrs["unknown_ids"]``. Rows are sorted by case, rater, repeat and scale.

    The table is assembled from columns (:class:`~covsev_tools.labels.tidy.LongColumns`) and
    sorted by an index computed on codes, so 100,000 records take a few seconds and well under
    300 MB (``benchmarks/labels_export.py``).

    Parameters
    ----------
    cohort : covsev_tools.cohort.Cohort
        The cohort (its key must be present: coordinator side).
    labels_dir : str or Path, optional
        Root of the label files; default ``$COVSEV_LABELS_DIR`` or ``labels/``.

    Returns
    -------
    pandas.DataFrame
        :data:`EXPORT_COLUMNS` then metadata columns; ``score`` is a nullable integer (empty when
        not assessable).

    Examples
    --------
    >>> ratings_export(Cohort.load("cohorts/pilot")).to_csv("ratings.csv", index=False)  # doctest: +SKIP
    """
    import numpy as np
    import pandas as pd

    store = LabelStore(labels_dir, cohort.name, scales=cohort.scales)
    columns = LongColumns(_RECORD_FIELDS)
    for _, entry in store.iter_entries():
        columns.add(entry.record, entry.saved_at, entry.line_number)
    latest = columns.latest()
    records = columns.record_frame(latest, release=True)
    known, repeats = set(cohort.display_ids), cohort.repeats()
    in_cohort = records["case_id"].isin(known).to_numpy()
    unknown = sorted(set(records["case_id"][~in_cohort]))
    rows, position = columns.score_rows(latest[in_cohort])
    records = records[in_cohort].rename(columns={"case_id": "display_id"})
    records = records.iloc[np.unique(position)].reset_index(drop=True)  # records with at least one row
    _, position = np.unique(position, return_inverse=True)
    records["case_id"] = [repeats.get(d, d) for d in records["display_id"]]
    records["is_repeat"] = records["display_id"].isin(list(repeats))
    records, metadata = _with_key(records, cohort.key())
    order = np.lexsort((columns.score_column("scale", rows).factorize(sort=True)[0],
                        records["is_repeat"].to_numpy()[position],
                        pd.factorize(records["rater"], sort=True)[0][position],
                        pd.factorize(records["case_id"], sort=True)[0][position]))
    rows, position = rows[order], position[order]
    out = {}
    for name in (*EXPORT_COLUMNS, *metadata):
        if name == "cohort":
            out[name] = np.full(len(rows), cohort.name, dtype=object)
        elif name in SCORE_COLUMNS:
            column = columns.score_column(name, rows)
            out[name] = column.astype("Int64").array if name == "score" else column.to_numpy()
        else:  # each per-record column is spread over its rows once, then let go
            out[name] = records.pop(name).to_numpy().take(position)
    frame = pd.DataFrame(out, columns=[*EXPORT_COLUMNS, *metadata], copy=False)  # no second copy of the cells
    frame.attrs.update(unknown_ids=unknown, warnings=[str(w) for w in store.warnings])
    return frame


def _with_key(records, key):
    """Records joined (left) to the ``ok`` rows of the cohort key: ``filename`` and the metadata."""
    from covsev_tools.cohort import KEY_COLUMNS

    originals = key[key["status"] == "ok"].drop_duplicates("case_id")
    metadata = [c for c in key.columns if c not in KEY_COLUMNS]
    clash = {c: f"metadata_{c}" for c in metadata if c in EXPORT_COLUMNS}  # never over a column of ours
    originals = originals[["case_id", "filename", *metadata]].rename(columns=clash)
    metadata = [clash.get(c, c) for c in metadata]
    return records.merge(originals, on="case_id", how="left"), metadata


def write_ratings_csv(frame, path: str | Path, *, raw: bool | None = None) -> None:
    """Write :func:`ratings_export` output with ``true``/``false`` flags (as ``--filter`` expects).

    Text cells that a spreadsheet would run as a formula (a comment ``=HYPERLINK(...)``, a file
    name ``@x.png``) get a quote prefix unless ``raw=True`` (see :mod:`covsev_tools.files`).

    Examples
    --------
    >>> import pandas as pd, tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "ratings.csv"
    >>> write_ratings_csv(pd.DataFrame({"is_repeat": [True], "not_assessable": [False], "score": [3]}), out)
    >>> out.read_text()
    'is_repeat,not_assessable,score\\ntrue,false,3\\n'
    """
    out = frame.copy(deep=False)  # the flags are replaced, not written into: the caller's frame stays
    for column in ("is_repeat", "not_assessable"):
        out.isetitem(out.columns.get_loc(column), out[column].map({True: "true", False: "false"}))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_csv_atomic(out, path, raw=raw)
