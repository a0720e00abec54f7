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
from covsev_tools.labels.tidy import long_frame

__all__ = ["EXPORT_COLUMNS", "ratings_export", "write_ratings_csv"]

#: Columns of the ratings export, before the cohort's metadata columns.
EXPORT_COLUMNS = (
    "cohort", "case_id", "display_id", "is_repeat", "rater", "scale", "scale_version", "component",
    "score", "not_assessable", "not_assessable_reason", "comment", "time_shown", "time_saved",
    "seconds_on_case", "session_id", "filename",
)


def ratings_export(cohort, labels_dir: str | Path | None = None):
    """The coordinator's unblinded ratings table: latest valid records mapped back to files and metadata.

    Repeat IDs are resolved to their original case (``is_repeat`` true); ``filename`` and the
    metadata columns come from the cohort key.  Records are checked against the cohort's scales;
    lines left out are named in ``frame.attrs["warnings"]``. Records whose display ID is not in the
    cohort (e.g. after re-creating it with new IDs) are left out and listed in
    ``frame.attrs["unknown_ids"]``.

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
    from covsev_tools.cohort import KEY_COLUMNS

    store = LabelStore(labels_dir, cohort.name, scales=cohort.scales)
    known, repeats = set(cohort.display_ids), cohort.repeats()
    latest = store.latest()  # one read of the label files serves both the unknown IDs and the table
    unknown = sorted({case_id for _, case_id in latest} - known)
    long = long_frame(latest.values()).rename(columns={"case_id": "display_id"})
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
    out = frame.copy()
    for column in ("is_repeat", "not_assessable"):
        out[column] = out[column].map({True: "true", False: "false"})
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_csv_atomic(out, path, raw=raw)
