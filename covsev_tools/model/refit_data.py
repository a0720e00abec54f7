"""The data a severity regressor is re-fitted on: model outputs joined to labels and patients.

A row is a labelled, readable image: its ``xrv:<Pathology>`` outputs (and optionally its 1024
pooled features), its label(s) and its ``group`` (the patient, so that splits never put one
patient on both sides). The group column must exist when named: per-image groups are used only
when asked for explicitly (``group_col=None``), because they let one patient's follow-up images
leak between training and test.

Examples
--------
>>> import pandas as pd
>>> preds = pd.DataFrame({"filename": ["a.png", "b.png"], "xrv:Lung Opacity": [0.1, 0.9],
...                       "error": ["", ""]})
>>> labels = pd.DataFrame({"filename": ["a.png", "b.png"], "geographic_extent": [2.0, 6.0]})
>>> meta = pd.DataFrame({"filename": ["a.png", "b.png"], "patientid": [7, 7]})
>>> data = join_refit_data(preds, labels, meta)
>>> data.table[["filename", "geographic_extent", "group"]]
  filename  geographic_extent group
0    a.png                2.0     7
1    b.png                6.0     7
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from covsev_tools import files
from covsev_tools.errors import CovsevError
from covsev_tools.labels.published import PUBLISHED_COLUMNS
from covsev_tools.model.mapping import score_names
from covsev_tools.model.outputs import FEATURE_PREFIX, N_FEATURES, OUTPUT_COLUMNS, OUTPUT_PREFIX, PREDICTION_COLUMNS

FEATURE_SETS = {
    "lung_opacity": [OUTPUT_PREFIX + "Lung Opacity"],
    "four_outputs": [OUTPUT_PREFIX + p for p in
                     ("Lung Opacity", "Pneumonia", "Infiltration", "Consolidation")],
    "all_outputs": list(OUTPUT_COLUMNS),
    "features_1024": [f"{FEATURE_PREFIX}{i}" for i in range(N_FEATURES)],
}
# the published labels file (Cohen et al. 2020) names the mean scores its own way: to score names
LABEL_RENAMES = {column: PREDICTION_COLUMNS[scale] for column, scale in PUBLISHED_COLUMNS.items()}


class RefitInputError(CovsevError, ValueError):
    """Re-fitting inputs that do not fit together (message names the file and the column)."""


def input_names(feature_set):
    """Input names of a feature set.

    A name from ``FEATURE_SETS`` gives its list, a list/tuple of input names gives a tuple; an
    unknown name comes back unchanged for the caller to reject.

    Examples
    --------
    >>> input_names("four_outputs")
    ['xrv:Lung Opacity', 'xrv:Pneumonia', 'xrv:Infiltration', 'xrv:Consolidation']
    >>> input_names(["xrv:Edema"])
    ('xrv:Edema',)
    """
    if isinstance(feature_set, str):
        return FEATURE_SETS.get(feature_set, feature_set)
    return tuple(feature_set)


@dataclass
class RefitData:
    """Labelled rows with their model inputs.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per labelled, readable image: ``filename``, targets, ``group``, optional ``view``,
        ``xrv:<Pathology>`` outputs.
    features : ndarray or None
        (n, 1024) pooled features aligned with ``table`` rows.
    group_col : str
        Column the groups came from (``"filename"`` when each image is its own group).

    Examples
    --------
    >>> import pandas as pd
    >>> data = RefitData(pd.DataFrame({"xrv:Lung Opacity": [0.5, 1.5]}), None, "filename")
    >>> data.design("lung_opacity").ravel().tolist()
    [0.5, 1.5]
    """

    table: object
    features: np.ndarray | None
    group_col: str

    def design(self, feature_set) -> np.ndarray:
        """(n, k) inputs of a feature set name or list of input names."""
        names = input_names(feature_set)
        if isinstance(names, str):
            raise ValueError(f"unknown feature set {feature_set!r}; choose from {list(FEATURE_SETS)}")
        if names and names[0].startswith(FEATURE_PREFIX):
            if self.features is None:
                raise ValueError(f"feature set {feature_set} needs the features .npy file")
            return self.features[:, [int(n[len(FEATURE_PREFIX):]) for n in names]].astype(np.float64)
        return self.table[list(names)].to_numpy(dtype=np.float64)

    def subset(self, mask) -> "RefitData":
        """The rows where ``mask`` is true."""
        mask = np.asarray(mask, dtype=bool)
        feats = None if self.features is None else self.features[mask]
        return RefitData(self.table[mask].reset_index(drop=True), feats, self.group_col)


def read_labels(path) -> "pd.DataFrame":
    """Read a labels CSV (``##`` comment lines allowed, as in the published file).

    The published columns ``geographic_mean`` / ``opacity_mean`` are renamed to the score names
    ``geographic_extent`` / ``opacity``.

    Examples
    --------
    >>> import tempfile
    >>> path = tempfile.mkdtemp() + "/labels.csv"
    >>> _ = open(path, "w").write("## scores\\nfilename,opacity_mean\\na.png,2.5\\n")
    >>> read_labels(path)
      filename  opacity
    0    a.png      2.5
    """
    labels = _read_commented_csv(path, "labels")
    if "filename" not in labels.columns:
        raise RefitInputError(f"{path}: no 'filename' column (columns: {list(labels.columns)})")
    return labels.rename(columns=LABEL_RENAMES)


def _read_commented_csv(path, what: str):
    """A CSV after its leading ``#`` lines (a ``#`` inside a later cell is data), BOM allowed."""
    from pathlib import Path

    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise RefitInputError(f"{what} file not found: {path}")
    try:
        return files.read_csv(path, skiprows=files.leading_comment_lines(path), encoding="utf-8-sig")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise RefitInputError(f"{path}: cannot read {what} CSV ({' '.join(str(exc).split())})") from exc


#: Columns of a ratings export (``covsev labels export``) that refit labels are built from.
RATINGS_COLUMNS = ("filename", "rater", "scale", "component", "score", "is_repeat")


def labels_from_ratings(ratings, source: str = "the ratings table"):
    """Refit labels from a ratings export: per file, the raters' mean first-reading total per scale.

    Hidden repeats (``is_repeat``) and the adjudicator's ``consensus`` rows are left out: the
    consensus was written after seeing every rater, so averaging it in would count one reading
    twice. Not-assessable readings (empty scores) do not count.

    Parameters
    ----------
    ratings : pandas.DataFrame
        The table ``covsev labels export`` writes (:data:`RATINGS_COLUMNS` at least).
    source : str
        How the table is named in error messages (its file).

    Returns
    -------
    pandas.DataFrame
        ``filename`` and one column per score name (``geographic_extent``, ``opacity``), as
        :func:`read_labels` returns; ``attrs["n_raters"]`` the raters averaged.

    Examples
    --------
    >>> import pandas as pd
    >>> ratings = pd.DataFrame({"filename": ["a.png"] * 4, "rater": ["r1", "r2", "r1", "consensus"],
    ...                         "scale": "extent", "component": "total", "score": [2, 4, 9, 8],
    ...                         "is_repeat": [False, False, True, False]})
    >>> labels_from_ratings(ratings)
      filename  geographic_extent
    0    a.png                3.0
    """
    import pandas as pd

    from covsev_tools.cohort.ids import CONSENSUS_RATER

    missing = [c for c in RATINGS_COLUMNS if c not in ratings.columns]
    if missing:
        raise RefitInputError(f"{source}: not a ratings export (no column {', '.join(missing)}); "
                              "write one with covsev labels export")
    repeat = ratings["is_repeat"].astype(str).str.strip().str.lower().isin(("true", "1"))
    keep = (ratings["component"].astype(str) == "total") & ~repeat \
        & (ratings["rater"].astype(str).str.strip() != CONSENSUS_RATER) \
        & ratings["scale"].isin(list(PREDICTION_COLUMNS))
    rows = ratings.loc[keep, ["filename", "rater", "scale", "score"]].copy()
    rows["score"] = pd.to_numeric(rows["score"], errors="coerce").astype(float)  # nullable Int64 from the store
    rows = rows.dropna(subset=["score"])
    if rows.empty:
        raise RefitInputError(f"{source}: no first-reading totals of {' or '.join(PREDICTION_COLUMNS)}")
    labels = rows.pivot_table(index="filename", columns="scale", values="score", aggfunc="mean")
    labels = labels.rename(columns=PREDICTION_COLUMNS).reset_index()
    labels.columns.name = None
    labels.attrs["n_raters"] = int(rows["rater"].nunique())
    labels.attrs["source"] = f"{source}: mean of the raters' first-reading totals"
    return labels


def _source(value, what: str) -> str:
    """How an input is named in messages: its file, or what it is when given as a table."""
    import pandas as pd

    return f"the {what} table" if isinstance(value, pd.DataFrame) else str(value)


def _columns_text(columns) -> str:
    names = [str(c) for c in columns if not str(c).startswith(OUTPUT_PREFIX) and c != "_row"]
    return ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")


def _groups(table, group_col: str | None, key: str, source: str, source_columns) -> str:
    """The column each row's group comes from; an error naming the file when it is missing."""
    if group_col is None:
        return key
    if group_col not in table.columns:
        raise RefitInputError(
            f"{source}: no group column {group_col!r} (columns: {_columns_text(source_columns)}); "
            "name the patient column, or none to make each image its own group")
    return group_col


def join_refit_data(predictions, labels, metadata=None, features=None, *,
                    group_col: str | None = "patientid", key: str = "filename") -> RefitData:
    """Join predictions, labels and metadata on ``key``; drop error rows and unlabelled images.

    Parameters
    ----------
    predictions : path or DataFrame
        The ``covsev predict`` CSV.
    labels : path or DataFrame
        Labels CSV (see :func:`read_labels`).
    metadata : path or DataFrame, optional
        Per-image metadata with ``group_col`` (patient) and optionally ``view``.
    features : path or ndarray, optional
        The ``--features`` .npy written with ``predictions`` (same row order).
    group_col : str or None
        Patient column, in the metadata or the predictions; it must exist. None: each image is
        its own group (only when no patient is known: follow-up images then leak across splits).
    key : str
        Join column.

    Raises
    ------
    RefitInputError
        The group column is missing (naming the file), or the features do not match.

    Examples
    --------
    >>> import pandas as pd
    >>> preds = pd.DataFrame({"filename": ["a.png", "b.png"], "xrv:Lung Opacity": [0.1, 0.9]})
    >>> labels = pd.DataFrame({"filename": ["a.png", "b.png"], "opacity": [1.0, 3.0]})
    >>> join_refit_data(preds, labels, group_col=None).table["group"].tolist()   # one group per image
    ['a.png', 'b.png']
    >>> join_refit_data(preds, labels)
    Traceback (most recent call last):
    ...
    covsev_tools.model.refit_data.RefitInputError: the predictions table: no group column 'patientid' ...
    """
    import pandas as pd

    preds = predictions if isinstance(predictions, pd.DataFrame) else files.read_csv(
        predictions, keep_default_na=False, na_values=[""])
    # the model's own scores share the label names; refitting only uses outputs and features
    preds = preds.drop(columns=[c for c in score_names() if c in preds.columns])
    n_rows = len(preds)
    preds = preds.assign(_row=np.arange(n_rows))
    if "error" in preds.columns:
        preds = preds[preds["error"].fillna("").astype(str) == ""]
    labs = labels if isinstance(labels, pd.DataFrame) else read_labels(labels)
    table = preds.merge(labs.drop(columns=[c for c in labs.columns if c in preds.columns and c != key]),
                        on=key, how="inner")
    source, source_columns = _source(predictions, "predictions"), preds.columns
    if metadata is not None:
        meta = metadata if isinstance(metadata, pd.DataFrame) else files.read_csv(metadata)
        source, source_columns = _source(metadata, "metadata"), meta.columns
        meta = meta.drop_duplicates(key)
        keep = [key] + [c for c in (group_col, "view") if c in meta.columns and c not in table.columns]
        table = table.merge(meta[keep], on=key, how="left")
    used = _groups(table, group_col, key, source, source_columns)
    table["group"] = table[used].astype(str)
    feats = None
    if features is not None:
        feats = np.load(features) if not isinstance(features, np.ndarray) else features
        if len(feats) != n_rows:
            raise RefitInputError(f"{_source(features, 'features')}: {len(feats)} rows, the "
                                  f"predictions {n_rows}")
        feats = np.asarray(feats, dtype=np.float32)[table["_row"].to_numpy()]
    table = table.drop(columns="_row").reset_index(drop=True)
    return RefitData(table, feats, used)
