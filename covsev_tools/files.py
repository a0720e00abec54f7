"""Output files written whole or not at all.

A coordinator often re-runs a command over its previous output (``predictions.csv``, the ratings
export, ``cohort.json``). Writing in place would leave a truncated file behind if the run is
killed or the disk fills up, and the earlier good file would be gone. Everything is therefore
written to a temporary file in the same folder, flushed to disk, and moved over the target with
``os.replace``, which is atomic on POSIX and Windows file systems. A symbolic link is followed
(its target is replaced), an existing file keeps its permissions, and a target that is not a
regular file (``/dev/stdout``, a pipe) is written directly.

CSV files are opened by people in spreadsheets, where a cell such as ``=HYPERLINK(...)``,
``+cmd|' /C calc'!A0`` or ``@SUM(1+1)`` -- typed as a rater's comment, or a file name or metadata
value -- would run as a formula. Every CSV writer here therefore neutralises text cells (and
headers) that begin with ``=``, ``+``, ``-``, ``@``, tab or carriage return by prefixing a single
quote (the OWASP rule), while real numbers stay numbers: numeric columns are never touched, and a
text cell that is a plain number (``-2``, ``+1.5``, ``1e-3``) is left as it is. ``raw=True``, the
:func:`raw_csv` context, ``COVSEV_RAW_CSV=1`` or the CLI's ``--raw-csv`` write cells unchanged for
programs that need them byte for byte.

Examples
--------
>>> import tempfile, pathlib
>>> target = pathlib.Path(tempfile.mkdtemp()) / "out.txt"
>>> with replaced_atomically(target) as tmp:
...     _ = tmp.write_text("done")
>>> target.read_text()
'done'
"""
from __future__ import annotations

import contextvars
import csv
import os
import re
import secrets
import stat
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

__all__ = ["FORMULA_TRIGGERS", "RAW_CSV_ENV", "csv_text", "fsync_path", "leading_comment_lines", "raw_csv", "read_csv",
           "replaced_atomically", "save_npy_atomic", "spreadsheet_safe", "spreadsheet_safe_frame",
           "spreadsheet_unescape", "spreadsheet_unescape_frame", "write_csv_atomic",
           "write_rows_csv_atomic", "write_text_atomic"]

#: First characters that make a spreadsheet read a text cell as a formula (OWASP CSV injection).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
#: Set to ``1`` to write every CSV raw (no quote prefix), e.g. for a pipeline that needs exact cells.
RAW_CSV_ENV = "COVSEV_RAW_CSV"
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_RAW = contextvars.ContextVar("covsev_raw_csv", default=False)


@contextmanager
def replaced_atomically(path: str | os.PathLike, durable: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; it replaces ``path`` only if the block succeeds.

    On an exception the temporary file is removed and ``path`` keeps its previous content.
    ``durable=False`` skips the two fsyncs (about 2 ms per file) for files that can be rebuilt,
    such as a cohort's display images.
    """
    path = Path(path)
    if path.exists() and not path.is_file():  # a device or a pipe cannot be replaced
        yield path
        return
    path = path.resolve() if path.is_symlink() else path
    # unique per writer (process, thread, call), so concurrent writers never share a temporary
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        yield tmp
        if durable:  # else a power cut after the rename can leave an empty file under the name
            fsync_path(tmp)
        if path.exists():
            os.chmod(tmp, stat.S_IMODE(path.stat().st_mode))
        os.replace(tmp, path)
        if durable:
            fsync_path(path.parent)  # and the rename itself
    finally:
        tmp.unlink(missing_ok=True)


def fsync_path(path: Path) -> None:
    """Flush a file's data, or a folder's entries, to disk.

    Examples
    --------
    >>> import tempfile
    >>> fsync_path(Path(tempfile.mkdtemp()))
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 text to ``path`` through :func:`replaced_atomically`.

    Examples
    --------
    >>> import tempfile
    >>> write_text_atomic(Path(tempfile.mkdtemp()) / "mapping.json", "{}").read_text()
    '{}'
    """
    with replaced_atomically(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


@contextmanager
def raw_csv(enabled: bool = True) -> Iterator[None]:
    """Within the block, CSV writers that are not given ``raw=`` write cells unchanged.

    Examples
    --------
    >>> with raw_csv():
    ...     _raw_wanted(None)
    True
    >>> _raw_wanted(None)
    False
    """
    token = _RAW.set(enabled)
    try:
        yield
    finally:
        _RAW.reset(token)


def _raw_wanted(raw: bool | None) -> bool:
    if raw is not None:
        return raw
    return _RAW.get() or os.environ.get(RAW_CSV_ENV, "") not in ("", "0")


def spreadsheet_safe(value: Any) -> Any:
    """``value`` with a quote prefixed when a spreadsheet would read it as a formula.

    Only text is changed, and only when it begins with one of :data:`FORMULA_TRIGGERS` and is not
    a plain number.

    Examples
    --------
    >>> [spreadsheet_safe(v) for v in ["=1+1", "-2+3", "@SUM(A1)", "-2", "+1.5", -2, "ok", None]]
    ["'=1+1", "'-2+3", "'@SUM(A1)", '-2', '+1.5', -2, 'ok', None]
    """
    if isinstance(value, str) and (_formula_like(value) or (value[:1] == "'" and _formula_like(value[1:]))):
        return "'" + value  # a quote before an already quoted formula keeps the escape reversible
    return value


def _formula_like(value: str) -> bool:
    return value[:1] in FORMULA_TRIGGERS and not _PLAIN_NUMBER.fullmatch(value)


def spreadsheet_unescape(value: Any) -> Any:
    """Undo :func:`spreadsheet_safe`: what covsev wrote comes back exactly as it was.

    Examples
    --------
    >>> values = ["=1+1", "'=1+1", "+ve", "'quoted", "-2", None]
    >>> [spreadsheet_unescape(spreadsheet_safe(v)) for v in values] == values
    True
    """
    if isinstance(value, str) and value[:1] == "'" and spreadsheet_safe(value[1:]) != value[1:]:
        return value[1:]
    return value


def spreadsheet_unescape_frame(frame):
    """A copy of a DataFrame read from a covsev CSV with :func:`spreadsheet_unescape` applied to every
    text cell and header (checked on distinct values, like :func:`spreadsheet_safe_frame`).

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"'=x": ["'+ve", "fine"], "n": [1, 2]})
    >>> spreadsheet_unescape_frame(t).to_dict("list")
    {'=x': ['+ve', 'fine'], 'n': [1, 2]}
    """
    import pandas as pd

    out = frame.copy(deep=False)
    out.columns = [spreadsheet_unescape(c) for c in frame.columns]
    for position, column, distinct in _text_columns(frame):
        changed = {v: spreadsheet_unescape(v) for v in distinct if spreadsheet_unescape(v) is not v}
        if changed:
            out.isetitem(position, pd.Series(column.astype(object).replace(changed).to_numpy(),
                                              index=frame.index, dtype=object))
    return out


def read_csv(path: str | os.PathLike, **options):
    """``pandas.read_csv`` for a CSV covsev wrote: spreadsheet escapes undone (see :func:`write_csv_atomic`).

    Examples
    --------
    >>> import pandas as pd, tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
    >>> _ = write_csv_atomic(pd.DataFrame({"note": ["+ve", "=cmd"]}), path)
    >>> path.read_text().split()
    ['note', "'+ve", "'=cmd"]
    >>> read_csv(path)["note"].tolist()
    ['+ve', '=cmd']
    """
    import pandas as pd

    return spreadsheet_unescape_frame(pd.read_csv(path, **options))


def leading_comment_lines(path: str | os.PathLike) -> int:
    """Number of ``#`` lines before a CSV's header (the published labels have five).

    Only leading lines count: a ``#`` inside a rater's comment must not cut a row short.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
    >>> _ = path.write_text("## source\\n## licence\\na,b\\n#1,2\\n")
    >>> leading_comment_lines(path)
    2
    """
    count = 0
    with open(path, encoding="utf-8-sig", errors="replace") as handle:
        for line in handle:
            if not line.startswith("#"):
                break
            count += 1
    return count


def spreadsheet_safe_frame(frame):
    """A copy of a DataFrame with :func:`spreadsheet_safe` applied to every text cell and header.

    Numeric columns are not touched; a text column is checked on its distinct values only, so a
    600,000-row export costs tens of milliseconds per column.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"comment": ["=HYPERLINK(1)", "fine", None], "score": [-2, 3, 4]})
    >>> spreadsheet_safe_frame(t).values.tolist()
    [["'=HYPERLINK(1)", -2], ['fine', 3], [None, 4]]
    """
    import pandas as pd

    out = frame.copy(deep=False)
    out.columns = [spreadsheet_safe(c) for c in frame.columns]
    for position, column, distinct in _text_columns(frame):
        risky = [v for v in distinct if spreadsheet_safe(v) is not v]
        if risky:
            mask = column.isin(risky).to_numpy()
            fixed = column.astype(object).to_numpy(copy=True)
            fixed[mask] = ["'" + v for v in fixed[mask]]
            out.isetitem(position, pd.Series(fixed, index=frame.index, dtype=object))
    return out


def _text_columns(frame):
    """``(position, column, distinct values)`` of every text column (numbers, booleans, dates skipped)."""
    import pandas as pd

    for position in range(frame.shape[1]):
        column = frame.iloc[:, position]
        if isinstance(column.dtype, pd.CategoricalDtype):
            column = column.astype(object)
        elif not (pd.api.types.is_object_dtype(column.dtype) or pd.api.types.is_string_dtype(column.dtype)):
            continue
        yield position, column, pd.unique(column)


def _has_carriage_return(frame) -> bool:
    """True when a text cell holds a CR, which the CSV writer would leave unquoted with LF line ends."""
    return any(isinstance(v, str) and "\r" in v for _, _, distinct in _text_columns(frame) for v in distinct)


def write_csv_atomic(frame, path: str | os.PathLike, *, raw: bool | None = None) -> Path:
    """Write a DataFrame as CSV (no index) through :func:`replaced_atomically`, spreadsheet-safe.

    Parameters
    ----------
    frame : pandas.DataFrame
    path : str or PathLike
    raw : bool, optional
        ``True`` writes text cells unchanged; default: neutralise formula cells
        (:func:`spreadsheet_safe`) unless inside :func:`raw_csv` or ``COVSEV_RAW_CSV=1``.

    Returns
    -------
    Path

    Examples
    --------
    >>> import pandas as pd, tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "ratings.csv"
    >>> _ = write_csv_atomic(pd.DataFrame({"comment": ["=1+1"], "score": [-2]}), out)
    >>> out.read_text()
    "comment,score\\n'=1+1,-2\\n"
    >>> _ = write_csv_atomic(pd.DataFrame({"comment": ["=1+1"], "score": [-2]}), out, raw=True)
    >>> out.read_text()
    'comment,score\\n=1+1,-2\\n'
    """
    if not _raw_wanted(raw):
        frame = spreadsheet_safe_frame(frame)
    # a bare CR inside a cell would split the row for CSV readers: then quote every text cell
    quoting = csv.QUOTE_NONNUMERIC if _has_carriage_return(frame) else csv.QUOTE_MINIMAL
    with replaced_atomically(path) as tmp:
        frame.to_csv(tmp, index=False, quoting=quoting)
    return Path(path)


def _write_rows(handle, columns: Sequence[str], rows: Iterable[dict], raw: bool | None, **fmt) -> None:
    clean = (lambda v: v) if _raw_wanted(raw) else spreadsheet_safe
    writer = csv.writer(handle, **fmt)
    writer.writerow([clean(c) for c in columns])
    for row in rows:
        writer.writerow(["" if row.get(c) is None else clean(row.get(c)) for c in columns])


def csv_text(columns: Sequence[str], rows: Iterable[dict], *, raw: bool | None = None) -> str:
    """Dict rows as spreadsheet-safe CSV text (``\\n`` line ends), for CSV printed or written whole.

    Examples
    --------
    >>> csv_text(["rater_a", "value"], [{"rater_a": "=HYPERLINK(1)", "value": -0.25}])
    "rater_a,value\\n'=HYPERLINK(1),-0.25\\n"
    """
    import io

    rows = list(rows)
    bare_cr = any(isinstance(v, str) and "\r" in v for row in rows for v in row.values())
    buffer = io.StringIO()  # CRLF line ends when a cell holds a CR, so that the writer quotes it
    _write_rows(buffer, columns, rows, raw, lineterminator="\r\n" if bare_cr else "\n")
    return buffer.getvalue()


def write_rows_csv_atomic(path: str | os.PathLike, columns: Sequence[str], rows: Iterable[dict],
                          *, raw: bool | None = None) -> Path:
    """Write dict rows (``None`` as empty, extra keys ignored) as CSV, atomically and spreadsheet-safe.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "key.csv"
    >>> _ = write_rows_csv_atomic(out, ["filename", "age"], [{"filename": "@evil.png", "age": -2, "x": 1}])
    >>> out.read_text().splitlines()
    ['filename,age', "'@evil.png,-2"]
    """
    with replaced_atomically(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        _write_rows(fh, columns, rows, raw)
    return Path(path)


def save_npy_atomic(array, path: str | os.PathLike) -> Path:
    """``numpy.save`` through :func:`replaced_atomically` (the exact file name is kept).

    Examples
    --------
    >>> import numpy as np, tempfile
    >>> np.load(save_npy_atomic(np.arange(3), Path(tempfile.mkdtemp()) / "features.npy")).tolist()
    [0, 1, 2]
    """
    import numpy as np

    with replaced_atomically(path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, array)
    return Path(path)
