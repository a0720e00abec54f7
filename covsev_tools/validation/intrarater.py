"""Intra-rater reliability: each rater against themself, from the hidden repeat readings.

Per rater and scale total: ICC(A,1) of the first and the repeat reading (exact F-based interval),
quadratic-weighted Cohen's κ and the mean absolute difference, all from
:mod:`covsev_tools.agreement`.

References
----------
McGraw KO, Wong SP. Forming inferences about some intraclass correlation coefficients.
Psychological Methods 1996;1(1):30-46.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from covsev_tools import agreement
from covsev_tools.agreement.bootstrap import DEFAULT_CONFIDENCE
from covsev_tools.validation.inputs import ValidationInputs, scale_range
from covsev_tools.validation.raters import to_long
from covsev_tools.validation.resample import result_frame

__all__ = ["INTRA_STATISTICS", "intra_rater", "repeat_pairs"]


def repeat_pairs(ratings: pd.DataFrame, scale: str) -> pd.DataFrame:
    """First and repeat reading of the same case by the same rater (scale totals).

    Returns
    -------
    DataFrame
        ``rater, case, first, repeat``.

    Examples
    --------
    >>> r = pd.DataFrame({"rater": "x", "case": ["a", "a"], "scale": "extent", "component": "total",
    ...                   "score": [3.0, 4.0], "is_repeat": [False, True]})
    >>> repeat_pairs(r, "extent").values.tolist()
    [['x', 'a', 3.0, 4.0]]
    """
    rows = ratings[(ratings["scale"] == scale) & (ratings["component"] == "total")]
    first = rows[~rows["is_repeat"]].groupby(["rater", "case"])["score"].first()
    again = rows[rows["is_repeat"]].groupby(["rater", "case"])["score"].first()
    pairs = pd.concat([first.rename("first"), again.rename("repeat")], axis=1, join="inner")
    return pairs.dropna().reset_index()


#: Rows of each rater in :func:`intra_rater`.
INTRA_STATISTICS = ("ICC(A,1)", "Weighted κ (quadratic)", "MAE")


def intra_rater(inputs: ValidationInputs, *, confidence: float = DEFAULT_CONFIDENCE) -> pd.DataFrame:
    """Intra-rater reliability per rater and scale from the hidden repeats.

    ICC(A,1) is the two-way absolute-agreement single-measure ICC of reading 1 vs reading 2
    (exact F-based interval at ``confidence``); κ is quadratic-weighted; MAE the mean absolute
    difference of the two readings. ICC and κ need 3 pairs (NaN below).

    Returns
    -------
    DataFrame
        Three rows per scale and rater (:data:`INTRA_STATISTICS`): ``scale, rater, statistic,
        estimate, ci_low, ci_high, n, method`` (n: repeat pairs); ``attrs``: ``confidence``.

    Examples
    --------
    >>> r = pd.DataFrame({"rater": "x", "case": list("abcabc"), "scale": "extent", "component": "total",
    ...                   "score": [1.0, 4, 6, 2, 4, 6], "is_repeat": [False] * 3 + [True] * 3})
    >>> inputs = ValidationInputs(r, pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), "case_id", "mean", {})
    >>> table = intra_rater(inputs)
    >>> table[table["statistic"] == "MAE"][["rater", "n", "estimate"]].values.tolist()
    [['x', 3, 0.3333333333333333]]
    """
    columns = ["scale", "rater", "statistic", "estimate", "ci_low", "ci_high", "n", "method"]
    rows = []
    if inputs.ratings is not None and inputs.ratings["is_repeat"].any():
        for scale in inputs.ratings["scale"].unique():
            pairs = repeat_pairs(inputs.ratings, scale)
            for rater, grp in pairs.groupby("rater"):
                rows += [{"scale": scale, "rater": rater, **row}
                         for row in _reliability(grp["first"].to_numpy(), grp["repeat"].to_numpy(),
                                                 _categories(scale), confidence)]
    return result_frame(rows, confidence=confidence, n_boot=0, seed=None, cluster=None, columns=columns)


def _reliability(first: np.ndarray, repeat: np.ndarray, categories, confidence) -> list[dict]:
    """ICC(A,1), quadratic-weighted kappa and MAE of two readings (NaN when too few pairs)."""
    n = len(first)
    none = {"estimate": np.nan, "ci_low": np.nan, "ci_high": np.nan, "n": n,
            "method": "fewer than 3 repeat pairs"}
    icc_row, kappa_row = dict(none), dict(none)
    mae = float(np.abs(first - repeat).mean()) if n else np.nan
    if n >= 3:
        long = to_long(pd.DataFrame({"reading 1": first, "reading 2": repeat}))
        icc = agreement.icc(long, confidence=confidence).loc["ICC2"]
        icc_row.update({"estimate": float(icc["estimate"]), "ci_low": float(icc["ci_low"]),
                        "ci_high": float(icc["ci_high"]), "method": icc["method"]})
        kappa = agreement.cohen_kappa(long, weights="quadratic", categories=categories, n_boot=0)
        kappa_row.update({"estimate": float(kappa["estimate"].iloc[0]), "method": "descriptive"})
    return [{"statistic": name, **row} for name, row in zip(
        INTRA_STATISTICS, (icc_row, kappa_row, {**none, "estimate": mae, "method": "descriptive"}))]


def _categories(scale: str):
    """Full category range of a scale total (so an unused score still counts in the kappa)."""
    try:
        low, high = scale_range(scale)
    except (KeyError, LookupError, ValueError, OSError):
        return None
    return f"{low}-{high}"
