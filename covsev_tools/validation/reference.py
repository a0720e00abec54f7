"""The reference standard of a case: the raters' consensus, an adjudicated score, or a published one.

Three kinds of reference are supported:

* ``"mean"`` or ``"median"`` of the raters' first readings (hidden repeats feed the intra-rater
  section, not the reference), per scale total and per component;
* ``"consensus"``: the adjudicator's consensus records (rater name ``consensus`` in the label store
  and the ratings export, see ``covsev adjudicate``). The consensus is the reference, never a rater;
* ``"published"``: a reference-only table such as the published labels of Cohen et al. 2020
  (``filename,geographic_mean,opacity_mean``): one score per image, no individual raters.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from covsev_tools.cohort.ids import CONSENSUS_RATER
from covsev_tools.validation.inputs import InputError

__all__ = ["CONSENSUS_RATER", "REFERENCE_ALIASES", "REFERENCE_METHODS", "consensus_scores",
           "reference_from_table", "reference_scores", "split_consensus"]


#: Reference standards ``reference_scores`` and ``covsev report --reference`` accept.
REFERENCE_METHODS = ("mean", "median", "consensus")

#: Column names by which reference-only tables name each scale's consensus total.
REFERENCE_ALIASES = {
    "extent": ("geographic_mean", "geographic_extent_mean", "geographic_extent", "extent_mean", "extent"),
    "opacity": ("opacity_mean", "opacity"),
}


def split_consensus(ratings: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Separate the adjudicator's consensus records from the raters' own readings.

    The consensus is written after seeing every rater's scores, so counting it as one more rater
    would inflate every agreement statistic; it is only ever a reference.

    Parameters
    ----------
    ratings : DataFrame
        Tidy ratings with a ``rater`` column.

    Returns
    -------
    (DataFrame, DataFrame)
        The raters' rows and the consensus rows.

    Examples
    --------
    >>> r = pd.DataFrame({"rater": ["R1", "consensus", "R2"], "score": [1, 2, 3]})
    >>> raters, adjudicated = split_consensus(r)
    >>> raters["rater"].tolist(), adjudicated["score"].tolist()
    (['R1', 'R2'], [2])
    """
    is_consensus = ratings["rater"].astype(str) == CONSENSUS_RATER
    return (ratings[~is_consensus].reset_index(drop=True),
            ratings[is_consensus].reset_index(drop=True))


def reference_scores(ratings: pd.DataFrame, method: str = "mean") -> pd.DataFrame:
    """Reference score per case, scale and component: the raters' mean or median.

    Only first readings count (hidden repeats are for intra-rater reliability).

    Parameters
    ----------
    ratings : DataFrame
        Tidy ratings (``case, scale, component, score, is_repeat``) of the raters only.
    method : {"mean", "median"}
        Consensus of the raters.

    Returns
    -------
    DataFrame
        Columns ``case, scale, component, reference, n_raters``.

    Examples
    --------
    >>> r = pd.DataFrame({"case": ["a", "a", "a"], "rater": ["x", "y", "z"], "scale": "extent",
    ...                   "component": "total", "score": [2, 3, 7], "is_repeat": False})
    >>> reference_scores(r, "median")["reference"].tolist()
    [3.0]
    """
    if method not in ("mean", "median"):
        raise InputError(f"reference must be one of {', '.join(REFERENCE_METHODS)}, not {method!r}")
    first = ratings[~ratings["is_repeat"]]
    grouped = first.groupby(["case", "scale", "component"])["score"]
    out = grouped.agg([method, "count"]).reset_index()
    out = out.rename(columns={method: "reference", "count": "n_raters"})
    out["reference"] = out["reference"].astype(float)
    return out


def consensus_scores(consensus: pd.DataFrame, path="ratings") -> pd.DataFrame:
    """Reference scores from the adjudicator's consensus records.

    Parameters
    ----------
    consensus : DataFrame
        Tidy rows of rater ``consensus`` (see :func:`split_consensus`).
    path : str or Path
        Named in the error message.

    Returns
    -------
    DataFrame
        ``case, scale, component, reference, n_raters`` (``n_raters`` is NaN: an adjudicated
        score is not a count of raters).

    Raises
    ------
    InputError
        When there is no consensus record at all.

    Examples
    --------
    >>> c = pd.DataFrame({"case": ["a"], "rater": "consensus", "scale": "extent",
    ...                   "component": "total", "score": [4.0], "is_repeat": False})
    >>> consensus_scores(c)["reference"].tolist()
    [4.0]
    """
    if not len(consensus):
        raise InputError(f"{path}: --reference consensus needs adjudicated records (rater "
                         f"{CONSENSUS_RATER!r}, written by `covsev adjudicate`); there are none")
    latest = consensus[~consensus["is_repeat"]].groupby(["case", "scale", "component"])["score"]
    out = latest.last().rename("reference").astype(float).reset_index()
    out["n_raters"] = np.nan
    return out


def reference_from_table(table: pd.DataFrame, key: str, path="reference") -> pd.DataFrame:
    """Tidy reference scores from a reference-only table (e.g. the published means).

    Parameters
    ----------
    table : DataFrame
        One row per image with a key column and one column per scale (see
        :data:`REFERENCE_ALIASES`).
    key : str
        ``"case_id"`` or ``"filename"``.
    path : str or Path
        Named in error messages.

    Raises
    ------
    InputError
        When the key column or every known scale column is missing.

    Examples
    --------
    >>> t = pd.DataFrame({"filename": ["a.png"], "geographic_mean": [3.5], "opacity_mean": [2.0]})
    >>> reference_from_table(t, "filename")[["scale", "reference"]].values.tolist()
    [['extent', 3.5], ['opacity', 2.0]]
    """
    if key not in table.columns:
        raise InputError(f"{path}: reference table has no {key!r} column "
                         f"(columns: {', '.join(map(str, table.columns))})")
    frames = []
    for scale, aliases in REFERENCE_ALIASES.items():
        column = next((a for a in aliases if a in table.columns), None)
        if column is None:
            continue
        frames.append(pd.DataFrame({
            "case": table[key].astype(str), "scale": scale, "component": "total",
            "reference": pd.to_numeric(table[column], errors="coerce"), "n_raters": np.nan}))
    if not frames:
        known = ", ".join(a for aliases in REFERENCE_ALIASES.values() for a in aliases)
        raise InputError(f"{path}: no reference score column found (expected one of: {known}; "
                         f"columns: {', '.join(map(str, table.columns))})")
    return pd.concat(frames, ignore_index=True).dropna(subset=["reference"])
