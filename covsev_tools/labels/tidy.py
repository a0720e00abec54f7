"""The tidy long table of label records: one row per case x rater x scale x component.

The table is built column by column (:class:`LongColumns`): a record adds its own fields once and
one short entry per score, never a Python dict per output row, so 100,000 records (600,000 rows)
take a few tens of megabytes before the final table, instead of a gigabyte.

Examples
--------
>>> record = {"cohort": "pilot", "case_id": "c1", "rater": "rad1",
...           "scales": {"extent": {"version": "1", "scores": {"right": 2, "left": 3}, "total": 5}}}
>>> long_frame([record])[["component", "score"]].values.tolist()
[['right', 2], ['left', 3], ['total', 5]]
"""
from __future__ import annotations

import math
from array import array
from datetime import datetime, timedelta, timezone
from typing import Iterable

__all__ = ["LONG_COLUMNS", "LongColumns", "latest_long_frame", "long_frame"]

#: Columns of :meth:`covsev_tools.labels.LabelStore.long`, in order.
LONG_COLUMNS = (
    "cohort", "case_id", "rater", "scale", "scale_version", "component", "score",
    "not_assessable", "not_assessable_reason", "comment", "time_shown", "time_saved",
    "seconds_on_case", "session_id", "position", "record_id",
)
#: Per-score columns; every other column of the long table is a field of the record.
SCORE_COLUMNS = ("scale", "scale_version", "component", "score")
RECORD_COLUMNS = tuple(c for c in LONG_COLUMNS if c not in SCORE_COLUMNS)
# Fields with few distinct values: one shared string each instead of one per record.
_SHARED = ("cohort", "rater", "not_assessable_reason", "session_id")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)


class LongColumns:
    """The long table's columns, gathered record by record.

    Examples
    --------
    >>> columns = LongColumns()
    >>> columns.add({"case_id": "c1", "rater": "a", "scales": {"x": {"version": "1", "scores": {"k": 1}, "total": 1}}})
    >>> columns.frame()[["case_id", "component", "score"]].values.tolist()
    [['c1', 'k', 1], ['c1', 'total', 1]]
    """

    def __init__(self, fields=RECORD_COLUMNS):
        self.fields: dict[str, list] = {c: [] for c in fields}  # "rater" and "case_id" always: they key "latest"
        # save time in µs since 1970 and line in its log: decide "latest"
        self.saved_us, self.line = array("q"), array("q")
        # one entry per score in machine arrays (about 20 bytes per row): the record it belongs to,
        # scale/version/component as codes into self.labels, the score (NaN: null)
        self.row_record, self.score = array("q"), array("d")
        self.codes: dict[str, array] = {c: array("l") for c in ("scale", "scale_version", "component")}
        self.labels: list = []
        self._code: dict = {}
        self._shared: dict = {}
        self._float_scores = False  # a score written as 2.0: pandas would keep the column float

    def __len__(self) -> int:
        return len(self.line)

    def add(self, record: dict, saved_at: datetime | None = None, line: int = 0) -> None:
        """Add one (valid) record; ``saved_at`` and ``line`` are needed only for :meth:`latest`.

        Examples
        --------
        >>> columns = LongColumns()
        >>> columns.add({"case_id": "c1", "rater": "a", "scales": {}})
        >>> len(columns)
        1
        """
        shared = self._shared.setdefault
        index = len(self.line)
        blind = bool(record.get("not_assessable", False))
        for name, values in self.fields.items():
            value = blind if name == "not_assessable" else record.get(name)
            values.append(shared(value, value) if name in _SHARED and value is not None else value)
        self.saved_us.append((saved_at - _EPOCH) // _MICROSECOND if saved_at else 0)
        self.line.append(line)
        code, codes = self._code_of, self.codes
        for scale, entry in record.get("scales", {}).items():
            scores = entry.get("scores") or {}
            components = [*scores, "total"]
            values = [*scores.values(), entry.get("total")]
            n = len(components)
            self.row_record.extend([index] * n)  # one extend per scale, not one append per score
            codes["scale"].extend([code(scale)] * n)
            codes["scale_version"].extend([code(entry.get("version"))] * n)
            codes["component"].extend([code(c) for c in components])
            if blind:
                self.score.extend([math.nan] * n)
            else:
                self.score.extend([math.nan if v is None else v for v in values])
                self._float_scores = self._float_scores or any(isinstance(v, float) for v in values)

    def _code_of(self, label) -> int:
        found = self._code.get(label)
        if found is None:
            found = self._code[label] = len(self.labels)
            self.labels.append(label)
        return found

    def latest(self):
        """Indices of the latest record per ``(rater, case_id)``, in order of each key's first record.

        Latest = largest ``saved_at``, then largest ``line`` (see :meth:`LabelStore.latest`).

        Examples
        --------
        >>> from datetime import datetime, timezone
        >>> columns = LongColumns()
        >>> for line, hour in ((1, 11), (2, 10), (3, 10)):  # the 11:00 save wins over later lines
        ...     columns.add({"case_id": f"c{line % 2}", "rater": "a", "scales": {}},
        ...                 datetime(2026, 1, 5, hour, tzinfo=timezone.utc), line)
        >>> columns.latest().tolist()  # c1: its first record (11:00); c0: its only one
        [0, 1]
        """
        import numpy as np
        import pandas as pd

        if not self.line:
            return np.zeros(0, dtype=np.intp)
        keys = pd.MultiIndex.from_arrays([self.fields["rater"], self.fields["case_id"]])
        codes, _ = pd.factorize(keys)  # numbered in order of first appearance
        order = np.lexsort((np.frombuffer(self.line, dtype=np.int64), np.frombuffer(self.saved_us, dtype=np.int64),
                            codes))
        last_of_key = np.append(codes[order][1:] != codes[order][:-1], True)
        return order[last_of_key]  # sorted by code, i.e. by first appearance

    def record_frame(self, records=None, release: bool = False):
        """Record-level columns (the ``fields`` gathered) of the chosen records (default: all), dtypes inferred.

        ``release=True`` frees the gathered lists as it goes (for a caller that needs them only once).

        Examples
        --------
        >>> columns = LongColumns(("case_id", "rater", "position"))
        >>> columns.add({"case_id": "c1", "rater": "a", "position": 3, "scales": {}})
        >>> columns.record_frame().values.tolist()
        [['c1', 'a', 3]]
        """
        import numpy as np
        import pandas as pd

        chosen = np.arange(len(self.line)) if records is None else np.asarray(records, dtype=np.intp)
        columns = {}
        for name in list(self.fields):
            values = self.fields.pop(name) if release else self.fields[name]
            array = np.empty(len(values), dtype=object)
            array[:] = values
            del values
            columns[name] = pd.Series(array[chosen], dtype=object).infer_objects()
        return pd.DataFrame(columns)

    def score_rows(self, records=None):
        """``(rows, record_position)``: indices into the score columns of the chosen records' rows, in
        the chosen records' order (then the record's own order), and each row's position among them.

        Examples
        --------
        >>> columns = LongColumns()
        >>> for case in ("c1", "c2"):
        ...     columns.add({"case_id": case, "rater": "a", "scales": {"x": {"version": "1", "scores": {}, "total": 0}}})
        >>> rows, position = columns.score_rows([1, 0])
        >>> rows.tolist(), position.tolist()
        ([1, 0], [0, 1])
        """
        import numpy as np

        chosen = np.arange(len(self.line)) if records is None else np.asarray(records, dtype=np.intp)
        rank = np.full(len(self.line), -1, dtype=np.intp)
        rank[chosen] = np.arange(len(chosen))
        row_rank = rank[np.frombuffer(self.row_record, dtype=np.int64)]
        rows = np.flatnonzero(row_rank >= 0)
        rows = rows[np.argsort(row_rank[rows], kind="stable")]
        return rows, row_rank[rows]

    def score_column(self, name: str, rows):
        """One score-level column (:data:`SCORE_COLUMNS`) for the given rows, with the dtype pandas
        infers from the values (scores: integers, or float when one is null or written as 2.0).

        Examples
        --------
        >>> columns = LongColumns()
        >>> columns.add({"case_id": "c1", "rater": "a", "scales": {"x": {"version": "1", "scores": {"k": 2}, "total": 2}}})
        >>> columns.score_column("score", [0, 1]).tolist(), columns.score_column("component", [0, 1]).tolist()
        ([2, 2], ['k', 'total'])
        """
        import numpy as np
        import pandas as pd

        if name == "score":
            values = np.frombuffer(self.score, dtype=np.float64)[rows]
            whole = not self._float_scores and not np.isnan(values).any()
            return pd.Series(values.astype(np.int64) if whole else values)
        labels = np.empty(len(self.labels), dtype=object)
        labels[:] = self.labels
        codes = np.frombuffer(self.codes[name], dtype=np.dtype(f"i{self.codes[name].itemsize}"))[rows]
        return pd.Series(labels[codes], dtype=object).infer_objects()

    def frame(self, records=None):
        """The long table (:data:`LONG_COLUMNS`) of the chosen records (default: all, in order).

        Examples
        --------
        >>> LongColumns().frame().shape
        (0, 16)
        """
        import pandas as pd

        rows, position = self.score_rows(records)
        if not len(rows):  # no score at all: every column object, as an empty table from rows has
            empty = pd.DataFrame([], columns=list(LONG_COLUMNS))
            empty["score"] = pd.to_numeric(empty["score"], errors="coerce")
            return empty
        import numpy as np

        chosen = np.arange(len(self.line)) if records is None else np.asarray(records, dtype=np.intp)
        with_rows, position = np.unique(position, return_inverse=True)  # dtypes as the rows' records give
        per_record = self.record_frame(chosen[with_rows])
        columns = {}
        for name in LONG_COLUMNS:
            if name in SCORE_COLUMNS:
                columns[name] = self.score_column(name, rows)
            else:
                columns[name] = per_record[name].take(position)
        frame = pd.DataFrame({k: v.to_numpy() for k, v in columns.items()}, columns=list(LONG_COLUMNS))
        return frame


def long_frame(records: Iterable[dict]):
    """The tidy long table (:data:`LONG_COLUMNS`) of valid records: per scale its components, then ``total``.

    Parameters
    ----------
    records : iterable of dict
        Records that passed :func:`covsev_tools.labels.records.check_record`.

    Returns
    -------
    pandas.DataFrame
        ``score`` is NaN when not assessable.

    Examples
    --------
    >>> long_frame([]).empty
    True
    """
    columns = LongColumns()
    for record in records:
        columns.add(record)
    return columns.frame()


def latest_long_frame(entries: Iterable):
    """The long table of the latest record per ``(rater, case_id)`` from ``(rater, LogEntry)`` pairs.

    The same table as ``long_frame(store.latest().values())``, without keeping every record.

    Examples
    --------
    >>> from covsev_tools.labels.records import read_log
    >>> from pathlib import Path
    >>> line = ('{"record_id": "r%d", "case_id": "c1", "rater": "ann", "time_saved": "2026-01-05T10:0%d:00Z", '
    ...         '"scales": {"x": {"version": "1", "scores": {"k": %d}, "total": %d}}}')
    >>> log = "\\n".join(line % (i, minute, i, i) for i, minute in ((1, 5), (2, 0))).encode()
    >>> entries, _ = read_log(Path("ann.jsonl"), log, rater="ann")
    >>> latest_long_frame(("ann", e) for e in entries)["score"].tolist()  # saved at 10:05 wins
    [1, 1]
    """
    columns = LongColumns()
    for _, entry in entries:
        columns.add(entry.record, entry.saved_at, entry.line_number)
    return columns.frame(columns.latest())
