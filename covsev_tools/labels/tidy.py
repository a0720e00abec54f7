"""The tidy long table of label records: one row per case x rater x scale x component.

Examples
--------
>>> record = {"cohort": "pilot", "case_id": "c1", "rater": "rad1",
...           "scales": {"extent": {"version": "1", "scores": {"right": 2, "left": 3}, "total": 5}}}
>>> long_frame([record])[["component", "score"]].values.tolist()
[['right', 2], ['left', 3], ['total', 5]]
"""
from __future__ import annotations

from typing import Iterable

__all__ = ["LONG_COLUMNS", "long_frame"]

#: Columns of :meth:`covsev_tools.labels.LabelStore.long`, in order.
LONG_COLUMNS = (
    "cohort", "case_id", "rater", "scale", "scale_version", "component", "score",
    "not_assessable", "not_assessable_reason", "comment", "time_shown", "time_saved",
    "seconds_on_case", "session_id", "position", "record_id",
)


def long_frame(records: Iterable[dict]):
    """The tidy long table (:data:`LONG_COLUMNS`) of valid records: per scale its components, then ``total``.

    Parameters
    ----------
    records : iterable of dict
        Records that passed :func:`covsev_tools.labels.records.check_record`.

    Returns
    -------
    pandas.DataFrame
        ``score`` is float (NaN when not assessable).

    Examples
    --------
    >>> long_frame([]).empty
    True
    """
    import pandas as pd

    rows = [row for record in records for row in _record_rows(record)]
    frame = pd.DataFrame(rows, columns=list(LONG_COLUMNS))
    frame["score"] = pd.to_numeric(frame["score"], errors="coerce")
    return frame


def _record_rows(record: dict) -> list[dict]:
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
